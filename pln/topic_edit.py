"""`pln topics add` / `remove`: a topic's phrases, hashtags or exclusions, edited in the config
(and `pln sources import`'s entry in `include_sources`, `with_include`).

The file is edited where the topic's `phrases`, `hashtags` or `none` list is, through a
round-trip YAML parser (ruamel.yaml), so comments, quoting, key order and flow or block style
stay as the user wrote them. The edited text is validated as a config before it replaces the file
(atomically); a mistake leaves the file as it was.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pln.atomic import write_atomic
from pln.config import Config, parse_config, read_yaml
from pln.errors import ConfigError, UsageError


@dataclass
class Edited:
    """What `add_terms` or `remove_terms` did to one topic."""

    path: Path
    phrases: list[str] = field(default_factory=list)
    hashtags: list[str] = field(default_factory=list)
    none: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # terms it had (add) or lacked (remove)

    @property
    def changed(self) -> bool:
        return bool(self.phrases or self.hashtags or self.none)


def add_terms(config: Config, topic_id: str, terms: list[str], *, exclude: bool = False) -> Edited:
    """Add `terms` to the topic's phrases ("#term": to its hashtags) in its config file,
    leaving out those it has already (any case; a hashtag with or without '#'). `exclude`:
    to its `none` instead, as written ("#term" excludes a hashtag there)."""
    return _edit(config, topic_id, terms, exclude, adding=True)


def remove_terms(
    config: Config, topic_id: str, terms: list[str], *, exclude: bool = False
) -> Edited:
    """Take `terms` out of the topic's phrases, hashtags or (`exclude`) `none`, as
    `add_terms` puts them in; a topic left with nothing to match by is refused."""
    return _edit(config, topic_id, terms, exclude, adding=False)


def _edit(config: Config, topic_id: str, terms: list[str], exclude: bool, adding: bool) -> Edited:
    config.topic(topic_id)  # raises for a topic the config lacks
    path = Path(config.path).resolve()
    file = str(config.path)
    text = _read(path, file)
    document, dumper = _round_trip(text, file)
    index, topic = _topic_entry(document, topic_id, file)
    edited = Edited(Path(config.path))
    for raw in terms:
        term = " ".join(raw.split())
        verb = f"add {raw!r} to" if adding else f"remove {raw!r} from"
        if not term.lstrip("#"):
            raise UsageError(f"cannot {verb} {topic_id}: it is empty")
        if adding and term.startswith("#") and " " in term:  # it could never match a tag
            joined = term.lstrip("#").replace(" ", "")
            raise UsageError(
                f"cannot {verb} {topic_id}: a hashtag is one word (e.g. #{joined}; "
                "without '#' it is a phrase)"
            )
        if exclude:
            key, value, same = "none", term, _same_phrase
        elif term.startswith("#"):
            key, value, same = "hashtags", term.lstrip("#"), _same_tag
        else:
            key, value, same = "phrases", term, _same_phrase
        present = topic.get(key)
        if isinstance(present, str):  # `phrases: one phrase` is a list of one
            present = topic[key] = _flow([present])
        found = [i for i, old in enumerate(present or ()) if same(value, str(old))]
        if bool(found) == adding:
            edited.unchanged.append(term)
            continue
        if present is not None and _uses(document, present) > 1:
            raise ConfigError(
                file,
                f"topics[{index}].{key}",
                "is shared with another entry through a YAML anchor or merge; changing it "
                "would change them all, so edit it by hand",
            )
        if adding:
            if present is None:
                present = topic[key] = _flow([])
            present.append(_as_string(value))
            getattr(edited, key).append(value)
        else:
            getattr(edited, key).extend(str(present[i]) for i in found)  # as the file had it
            for i in reversed(found):
                del present[i]
            if not present:  # an empty list says nothing: the key goes, as before an add
                del topic[key]
    if edited.changed:
        out = io.StringIO()
        dumper.dump(document, out)
        new_text = _as_written(out.getvalue(), text)
        parse_config(read_yaml(new_text, file), Path(config.path))  # raises: nothing written
        try:
            write_atomic(path, new_text.encode("utf-8"), mode=os.stat(path).st_mode & 0o777)
        except OSError as exc:
            raise ConfigError(file, "", f"cannot write it: {exc.strerror or exc}") from None
    return edited


def with_include(path: Path, name: str) -> str | None:
    """The config text at `path` with `name` added to its `include_sources` (a key appended
    when it has none), comments and style kept; None when it lists `name` already."""
    file = str(path)
    text = _read(path, file)
    document, dumper = _round_trip(text, file)
    if not hasattr(document, "get"):
        raise ConfigError(file, "", "not a mapping of settings")
    includes = document.get("include_sources")
    if isinstance(includes, str):
        includes = document["include_sources"] = _flow([includes])
    if includes is not None and not isinstance(includes, list):
        raise ConfigError(file, "include_sources", "must be a list of file names")
    if name in [str(i) for i in includes or ()]:
        return None
    if includes is None:
        document["include_sources"] = _flow([name])
        document.yaml_set_comment_before_after_key(
            "include_sources", before="Feeds imported with `pln sources import`."
        )
    else:
        includes.append(name)
    out = io.StringIO()
    dumper.dump(document, out)
    return _as_written(out.getvalue(), text)


def _read(path: Path, file: str) -> str:
    try:
        return path.read_bytes().decode("utf-8")  # not read_text: it turns \r\n into \n
    except UnicodeDecodeError as exc:
        raise ConfigError(file, "", f"not UTF-8 text: {exc.reason}") from None
    except OSError as exc:
        raise ConfigError(file, "", f"cannot read it: {exc.strerror or exc}") from None


def _as_written(dumped: str, original: str) -> str:
    """The dumped text with the original's line endings and byte-order mark (the parser
    writes neither), so an edit does not change every line of a file saved on Windows."""
    if "\r\n" in original:
        dumped = dumped.replace("\r\n", "\n").replace("\n", "\r\n")
    if original.startswith("\ufeff") and not dumped.startswith("\ufeff"):
        dumped = "\ufeff" + dumped
    return dumped


def _round_trip(text: str, file: str):
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError
    from ruamel.yaml.resolver import VersionedResolver
    from ruamel.yaml.util import load_yaml_guess_indent

    class DatesAsText(VersionedResolver):
        """Dates are text, as to the config loader (`title: 2026-13-45` is a title)."""

        def add_version_implicit_resolver(self, version, tag, regexp, first):
            if tag != "tag:yaml.org,2002:timestamp":
                super().add_version_implicit_resolver(version, tag, regexp, first)

    try:
        dumper = YAML()  # round-trip mode: comments and styles are kept
        dumper.Resolver = DatesAsText
        dumper.preserve_quotes = True
        dumper.width = 1 << 16  # never fold a long line the user wrote on one
        document, indent, offset = load_yaml_guess_indent(text, yaml=dumper)
        dumper.indent(mapping=2, sequence=indent or 2, offset=offset or 0)
        return document, dumper
    except YAMLError as exc:
        raise ConfigError(file, "", f"not valid YAML: {exc}") from None


def _topic_entry(document, topic_id: str, file: str):
    topics = document.get("topics") if hasattr(document, "get") else None
    for index, entry in enumerate(topics or ()):
        if hasattr(entry, "get") and str(entry.get("id", "")) == topic_id:
            return index, entry
    raise ConfigError(file, "topics", f"no topic named {topic_id!r}")


def _uses(node, target) -> int:
    """How many places of the document hold `target` itself (an alias makes it two)."""
    if node is target:
        return 1
    if isinstance(node, dict):
        return sum(_uses(value, target) for value in node.values())
    if isinstance(node, list):
        return sum(_uses(value, target) for value in node)
    return 0


def _flow(values: list[str]):
    """A YAML list written `[a, b]`, as a user would write a short one."""
    from ruamel.yaml.comments import CommentedSeq

    seq = CommentedSeq(values)
    seq.fa.set_flow_style()
    return seq


def _as_string(value: str):
    """value, quoted when the config loader (YAML 1.1) would read it unquoted as something
    else than that string: off, yes, no, on are booleans there, but not to ruamel (1.2)."""
    from ruamel.yaml.scalarstring import SingleQuotedScalarString

    try:
        if yaml.safe_load(value) == value:
            return value
    except yaml.YAMLError:
        pass
    return SingleQuotedScalarString(value)


def _same_phrase(new: str, old: str) -> bool:
    return new.casefold() == " ".join(old.split()).casefold()


def _same_tag(new: str, old: str) -> bool:
    return new.casefold() == old.lstrip("#").casefold()
