"""Import spaCy without its command line.

spaCy 3.7-3.8's `__init__` runs `from .cli.info import info` only to offer `spacy.info()`, and
that loads the whole `spacy` CLI: typer, weasel, requests, httpx and every CLI command (about
0.27 s of a 0.85 s `import spacy` and 17 MB per process, measured on 2 cores). Every process
that curates pays it before its first item; the batch crew pays it on the run's critical path.

`defer_spacy_cli()` puts a finder on `sys.meta_path` that wraps spaCy's own loader: while
spaCy's `__init__` runs, `spacy.cli` and `spacy.cli.info` are light placeholders whose `info`
imports the real CLI on its first call. Afterwards the placeholders are gone, so
`import spacy.cli` (or `python -m spacy`) loads the real one as usual. When spaCy's `__init__`
does not have that exact import (another version), nothing is changed.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types

_CLI_IMPORT = "from .cli.info import info"


def defer_spacy_cli() -> None:
    """Make the next first `import spacy` skip the CLI (a no-op once spaCy is imported)."""
    if "spacy" in sys.modules or any(isinstance(f, _SpacyFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _SpacyFinder())


def spacy_info(*args, **kwargs):
    """`spacy.info`, importing the CLI it lives in on the first call."""
    from spacy.cli.info import info

    return info(*args, **kwargs)


class _SpacyFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != "spacy" or fullname in sys.modules:
            return None
        # The finder stays until spaCy is imported: a lookup that imports nothing (a config
        # check's importlib.util.find_spec("spacy")) must not use it up. The lookup below goes
        # to the real finders.
        index = sys.meta_path.index(self)
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec("spacy")
        finally:
            sys.meta_path.insert(index, self)
        if spec is None or not _imports_cli_for_info(spec):
            return spec
        spec.loader = _WithoutCli(spec.loader)
        return spec


def _imports_cli_for_info(spec: importlib.machinery.ModuleSpec) -> bool:
    try:
        with open(spec.origin, encoding="utf-8") as source:
            return any(line.strip().startswith(_CLI_IMPORT) for line in source)
    except (OSError, TypeError, UnicodeDecodeError):
        return False


class _WithoutCli(importlib.abc.Loader):
    """spaCy's loader, with the CLI replaced by placeholders while spaCy's `__init__` runs."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        for finder in [f for f in sys.meta_path if isinstance(f, _SpacyFinder)]:
            sys.meta_path.remove(finder)  # spaCy is being imported: its one use
        cli = types.ModuleType("spacy.cli")
        info = types.ModuleType("spacy.cli.info")
        info.info = spacy_info
        placeholders = {"spacy.cli": cli, "spacy.cli.info": info}
        for name, placeholder in placeholders.items():
            sys.modules.setdefault(name, placeholder)
        try:
            self.loader.exec_module(module)
        finally:
            for name, placeholder in placeholders.items():
                if sys.modules.get(name) is placeholder:
                    del sys.modules[name]

    def __getattr__(self, name):  # resource readers and the like: spaCy's own loader
        return getattr(self.loader, name)
