"""`pln serve` lives in `pln.web`; this module keeps the names other code imports."""

from pln.web.cli import add_serve_command, cmd_serve
from pln.web.files import accepts_gzip, etag_values
from pln.web.server import FeedServer

__all__ = ["FeedServer", "accepts_gzip", "add_serve_command", "cmd_serve", "etag_values"]
