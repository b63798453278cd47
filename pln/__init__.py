"""PLN Curator: curate a Personal Learning Network into topic feeds."""

__version__ = "0.1.0"
