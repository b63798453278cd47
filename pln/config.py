"""Load and validate the YAML config: sources, topics, NLP, outputs, runner.

Every mistake raises ConfigError naming the file, the key path (`sources[2].url`) and the problem.
Relative paths are resolved against the config file's folder. Type-specific source options are
checked by the source class itself: `pln.sources.registry.load_checked_config` loads a config
and checks every source, so the CLI has a fully validated config before anything runs.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import json
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from pln.errors import ConfigError

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
MAX_KEEP_DAYS = 36_500  # outputs.keep_days and `pln forget --days`: 100 years
CONFIG_VERSION = 1  # the config format this pln reads
MAX_WORKERS = 64  # runner.workers: processes, each with its own spaCy
EXAMPLE_BASE = "http://localhost:8080/feeds"
SOURCE_KEYS = ("name", "type", "interval", "enabled")  # read by the config for every source
# ISO 639-1 (and the withdrawn iw, in, ji, jw, mo, sh that old feeds still declare): a topic's
# `languages`, compared with the first part of an item's language (en-US: en).
_ISO_639_1 = """
aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv
cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr
ht hu hy hz ia id ie ig ii ik in io is it iu iw ja ji jv jw ka kg ki kj kk kl km kn ko kr
ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mo mr ms mt my na nb nd ne ng
nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg sh si sk
sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve
vi vo wa wo xh yi yo za zh zu
"""
LANGUAGE_CODES = frozenset(_ISO_639_1.split())
LANGUAGE_RE = re.compile(r"^([a-z]{2})(?:[-_][a-z0-9]{1,8})*$")  # en, en-US, pt_BR


class DuplicateKey(yaml.constructor.ConstructorError):
    """A mapping gives a key twice (YAML would keep the last silently)."""


class ConfigLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """YAML as the config reads it: libyaml's parser when present (about 8 times faster: a
    500-source config in ~15 ms); a key given twice is an error; dates stay strings (the options
    that take a date parse them, so `2026-02-30` is named by its key, not a crash)."""

    def __init__(self, stream):
        super().__init__(stream)
        self._checked: set[int] = set()

    def flatten_mapping(self, node):
        # Every mapping comes here before PyYAML merges `<<` keys into it in place (which can
        # repeat a key legitimately), and again when an alias reuses it: check it the first time.
        if id(node) not in self._checked:
            self._checked.add(id(node))
            self._check_keys(node)
        super().flatten_mapping(node)

    def _check_keys(self, node) -> None:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may be overridden
                continue
            key = self.construct_object(key_node)
            try:
                if key in seen:
                    raise DuplicateKey(None, None, f"duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
            except TypeError:  # an unhashable key: the constructor says so
                continue


ConfigLoader.add_constructor("tag:yaml.org,2002:timestamp", ConfigLoader.construct_yaml_str)


def read_yaml(text: str, file: str) -> Any:
    """The YAML document in `text` (read with ConfigLoader); a ConfigError naming the line."""
    try:
        return yaml.load(text, Loader=ConfigLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if not isinstance(exc, DuplicateKey):
            problem = f"invalid YAML: {problem}"
        raise ConfigError(file, where, problem) from None


class Options:
    """Typed access to one mapping of the config; every read checks type and names the key path.

    The readers are named for what they return: `text`, `integer`, `number`, `flag`, `texts`,
    `path`, `mapping`. Call `done()` after reading to reject keys nobody read (typos like
    `tresh0ld`). `at` is the mapping's key path in the file ("sources[2]"; "" for the root).
    """

    def __init__(
        self, data: dict[str, Any], file: str, at: str, base_dir: Path, also: Iterable[str] = ()
    ):
        self.data, self.file, self.at, self.base_dir = data, file, at, base_dir
        self._read: set[str] = set()
        self._also = frozenset(also)  # keys accepted here that someone else reads

    def key(self, name: str) -> str:
        return f"{self.at}.{name}" if self.at else name

    def error(self, name: str, message: str) -> ConfigError:
        return ConfigError(self.file, self.key(name), message)

    def _get(self, name: str, types: tuple[type, ...], required: bool, default: Any, what: str):
        self._read.add(name)
        if name not in self.data or self.data[name] is None:
            if required:
                raise self.missing(name, "is required")
            return default
        value = self.data[name]
        if isinstance(value, bool) and bool not in types:
            raise self.error(name, f"must be {what}, got {value!r}")
        if not isinstance(value, types):
            raise self.error(name, f"must be {what}, got {type(value).__name__} {value!r}")
        if isinstance(value, str) and "\0" in value:  # YAML can spell one; no file name holds it
            raise self.error(name, f"must not contain a NUL character, got {value!r}")
        return value

    def text(self, name: str, *, required: bool = False, default: str = "", choices=None) -> str:
        value = self._get(name, (str,), required, default, "a string")
        if choices and value not in choices:
            raise self.error(name, f"must be one of {', '.join(choices)}; got {value!r}")
        return value

    def integer(
        self,
        name: str,
        *,
        required: bool = False,
        default: int = 0,
        min: int | None = None,
        max: int | None = None,
    ) -> int:
        value = self._get(name, (int,), required, default, "an integer")
        if value is default:
            return value
        if (min is not None and value < min) or (max is not None and value > max):
            raise self.error(name, _range(min, max, value))
        return value

    def number(
        self,
        name: str,
        *,
        required: bool = False,
        default: float = 0.0,
        min: float | None = None,
        max: float | None = None,
    ) -> float:
        raw = self._get(name, (int, float), required, default, "a number")
        value = float(raw)
        if raw is default:
            return value
        if not math.isfinite(value):
            raise self.error(name, f"must be a finite number, got {value}")
        if (min is not None and value < min) or (max is not None and value > max):
            raise self.error(name, _range(min, max, value))
        return value

    def flag(self, name: str, *, default: bool = False) -> bool:
        return self._get(name, (bool,), False, default, "true or false")

    def texts(self, name: str, *, required: bool = False) -> tuple[str, ...]:
        value = self._get(name, (list, str), required, [], "a list of strings")
        if isinstance(value, str):
            value = [value]
        for i, v in enumerate(value):
            if not isinstance(v, str) or not v.strip() or "\0" in v:
                raise ConfigError(
                    self.file,
                    f"{self.key(name)}[{i}]",
                    f"must be a non-empty string without NUL characters, got {v!r}",
                )
        return tuple(v.strip() for v in value)

    def mapping(self, name: str) -> Options:
        value = self._get(name, (dict,), False, {}, "a mapping")
        return Options(value, self.file, self.key(name), self.base_dir)

    def path(self, name: str, *, required: bool = False, must_exist: bool = False) -> Path | None:
        value = self.text(name, required=required)
        if not value:
            return None
        path = _expanded(self, name, value)
        if not path.is_absolute():
            path = (self.base_dir / path).resolve()
        if must_exist and not path.exists():
            raise self.error(name, f"file not found: {path}")
        return path

    def missing(self, name: str, message: str) -> ConfigError:
        """The error for a required `name` absent: an unknown key like it (`source:` for
        `sources:`) is named instead, as the likely typo."""
        unread = [str(k) for k in self.data if k not in self._read | self._also]
        typo = difflib.get_close_matches(name, unread, n=1)
        if typo:
            return self.error(typo[0], f"unknown key (did you mean {name}?)")
        return self.error(name, message)

    def done(self, allowed_extra: Iterable[str] = ()) -> None:
        known = self._read | self._also | set(allowed_extra)
        unknown = set(self.data) - known
        if unknown:
            name = sorted(unknown, key=str)[0]
            close = difflib.get_close_matches(str(name), sorted(known), n=1)
            if close:
                raise self.error(name, f"unknown key (did you mean {close[0]}?)")
            listed = ", ".join(sorted(known)) or "none"
            raise self.error(name, f"unknown key (known keys here: {listed})")


def _range(min: float | None, max: float | None, value: float) -> str:
    if max is None:
        return f"must be at least {min}, got {value}"
    if min is None:
        return f"must be at most {max}, got {value}"
    return f"must be between {min} and {max}, got {value}"


def _expanded(opts: Options, name: str, value: str) -> Path:
    """`value`, the option `name`, with a leading `~` or `~user` expanded."""
    try:
        return Path(value).expanduser()
    except RuntimeError:  # "Could not determine home directory."
        raise opts.error(
            name, f"cannot expand {value!r}: no such user (or no home folder)"
        ) from None


@dataclass(frozen=True)
class SourceConfig:
    """One configured source. `options` holds the type-specific keys, checked by the source."""

    name: str
    type: str
    options: dict[str, Any]
    base_dir: Path
    file: str
    key: str  # key path in the config, e.g. "sources[2]"
    interval: float = 900.0  # seconds between polls in streaming / scheduled use
    enabled: bool = True

    def opts(self) -> Options:
        return Options(self.options, self.file, self.key, self.base_dir, also=SOURCE_KEYS)

    @property
    def fingerprint(self) -> str:
        """A hash of what the source reads (type, options, folder): changes when you edit it."""
        what = json.dumps(
            [self.type, self.options, str(self.base_dir)], sort_keys=True, default=str
        )
        return hashlib.sha1(what.encode()).hexdigest()[:16]


PRESENTATION_KEYS = frozenset({"digest"})  # topic keys that do not change scoring
ENGINES = ("local", "beam")  # runner.engine: how `pln run` runs (see RunnerConfig)


@dataclass(frozen=True)
class TopicConfig:
    """A topic a user follows. See filters/ for how each field scores."""

    id: str
    title: str
    description: str = ""
    phrases: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()
    must: tuple[str, ...] = ()  # every one of these phrases must match
    any: tuple[str, ...] = ()  # at least one of these must match (when given)
    none: tuple[str, ...] = ()  # none of these may match
    boost_authors: tuple[str, ...] = ()  # PLN members: their items score higher
    block_authors: tuple[str, ...] = ()  # never keep items by these accounts
    sources: tuple[str, ...] = ()  # only items from these sources (empty: all)
    languages: tuple[str, ...] = ()  # only items in these languages (empty: all)
    threshold: float = 0.5
    max_items: int = 0  # items in the rendered feed (0: outputs.feed_items)
    digest: str = ""  # "", "daily" or "weekly": a digest item of the period's top items

    @property
    def version(self) -> str:
        """A short hash of everything that affects scoring: stored with each decision."""
        scoring = {k: v for k, v in self.__dict__.items() if k not in PRESENTATION_KEYS}
        payload = json.dumps(scoring, sort_keys=True, default=list).encode()
        return hashlib.sha1(payload).hexdigest()[:10]


@dataclass(frozen=True)
class NlpConfig:
    pipeline: str = "blank:en"  # "blank:<lang>" or an installed package such as en_core_web_sm
    batch_size: int = 512


DEFAULT_DUCKDB = Path("out/pln.duckdb")  # relative to the config file's folder
DEFAULT_FEEDS_DIR = Path("out/feeds")


@dataclass(frozen=True)
class OutputsConfig:
    duckdb: Path = DEFAULT_DUCKDB
    feeds_dir: Path = DEFAULT_FEEDS_DIR
    base_url: str = "http://localhost:8080/feeds"
    title: str = "PLN Curator"
    feed_items: int = 50
    staging: str = ""  # where workers stage batches for the writer; default <duckdb>.staging
    keep_days: int = 0  # forget what no source delivered for this many days (0: keep all)


@dataclass(frozen=True)
class RunnerConfig:
    """How `pln run` runs: `engine` "local" (pipelines/local_batch.py) or "beam" (the Beam
    pipeline; any `beam_args` choose it); `workers` curate processes (Beam: SDK workers)."""

    workers: int = 1
    beam_args: tuple[str, ...] = ()  # passed through to Beam PipelineOptions
    engine: str = "local"

    @property
    def uses_beam(self) -> bool:
        return self.engine == "beam" or bool(self.beam_args)


@dataclass(frozen=True)
class FetchConfig:
    """How the batch job fetches: many sources at once, politely, within deadlines."""

    concurrency: int = 32  # sources fetched at once per worker
    per_host: int = 4  # of those, at most this many from one host
    source_deadline: float = 120.0  # a source still fetching after this is given up (seconds)
    deadline: float | None = None  # all fetching of a run ends by then (seconds); None: no limit


@dataclass(frozen=True)
class ScheduleConfig:
    cron: tuple[str, ...] = ()  # five-field cron expressions, in the local time of `timezone`
    timezone: str = "UTC"
    catch_up: bool = True  # after downtime, run once for all the missed slots


@dataclass(frozen=True)
class Config:
    path: Path
    sources: tuple[SourceConfig, ...]
    topics: tuple[TopicConfig, ...]
    nlp: NlpConfig = field(default_factory=NlpConfig)
    outputs: OutputsConfig = field(default_factory=OutputsConfig)
    runner: RunnerConfig = field(default_factory=RunnerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    fetch: FetchConfig = field(default_factory=FetchConfig)

    @property
    def intervals(self) -> dict[str, float]:
        """Each source's poll interval by name (the store's backoff starts from it)."""
        return {s.name: s.interval for s in self.sources}

    def topic(self, topic_id: str) -> TopicConfig:
        for t in self.topics:
            if t.id == topic_id:
                return t
        raise self.unknown_topic(topic_id)

    def unknown_topic(self, topic_id: str) -> ConfigError:
        """The one line of every command given a topic the config does not have."""
        known = ", ".join(t.id for t in self.topics) or "none"
        return ConfigError(str(self.path), "", f"no topic named {topic_id!r} (known: {known})")


def load_config(path: str | Path) -> Config:
    """Read and validate a config file. Raises ConfigError with a one-line message.

    Each source's own options are checked by its class: `pln.sources.registry.
    load_checked_config` does both (the CLI uses it)."""
    path = Path(path)
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(file, "", "config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(file, "", f"cannot read config: {exc}") from None
    data = read_yaml(text, file)
    if not isinstance(data, dict):
        raise ConfigError(file, "", "must be a YAML mapping with sources, topics and outputs")
    return parse_config(data, path)


def parse_config(data: dict[str, Any], path: Path) -> Config:
    file = str(path)
    base_dir = path.resolve().parent
    root = Options(data, file, "", base_dir)
    version = root.integer("version", default=CONFIG_VERSION, min=1)
    if version > CONFIG_VERSION:
        raise root.error(
            "version", f"is {version}; this pln reads config version {CONFIG_VERSION} (upgrade pln)"
        )

    sources = _parse_sources(root, file, base_dir)
    topics = _parse_topics(root, file, base_dir)

    nlp_opts = root.mapping("nlp")
    nlp = NlpConfig(
        pipeline=nlp_opts.text("pipeline", default="blank:en"),
        batch_size=nlp_opts.integer("batch_size", default=512, min=1),
    )
    _check_pipeline(nlp_opts, nlp.pipeline)
    nlp_opts.done()

    out = root.mapping("outputs")
    outputs = OutputsConfig(
        duckdb=out.path("duckdb") or (base_dir / DEFAULT_DUCKDB),
        feeds_dir=out.path("feeds_dir") or (base_dir / DEFAULT_FEEDS_DIR),
        base_url=_base_url(out),
        title=out.text("title", default="PLN Curator"),
        feed_items=out.integer("feed_items", default=50, min=1),
        staging=out.text("staging"),
        keep_days=out.integer("keep_days", default=0, min=0),
    )
    if outputs.keep_days > MAX_KEEP_DAYS:
        raise out.error(
            "keep_days", f"must be at most {MAX_KEEP_DAYS} (100 years), got {outputs.keep_days}"
        )
    if outputs.duckdb.is_dir():
        raise out.error("duckdb", f"{outputs.duckdb} is a folder; name a database file")
    _check_can_create(out, "duckdb", outputs.duckdb.parent)
    _check_can_create(out, "feeds_dir", outputs.feeds_dir)
    out.done()

    run = root.mapping("runner")
    runner = RunnerConfig(
        workers=run.integer("workers", default=1, min=1, max=MAX_WORKERS),
        beam_args=run.texts("beam_args"),
        engine=run.text("engine", default="local", choices=ENGINES),
    )
    run.done()
    schedule = _parse_schedule(root.mapping("schedule"))
    fetch = _parse_fetch(root.mapping("fetch"))
    root.done()
    _check_topic_scopes(topics, sources, root)
    return Config(path, sources, topics, nlp, outputs, runner, schedule, fetch)


def _base_url(out: Options) -> str:
    """`outputs.base_url`: where readers find the feeds, an http(s) address."""
    url = out.text("base_url", default=EXAMPLE_BASE).rstrip("/")
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port  # raises on a port out of range or not a number
    except ValueError:  # also a broken [IPv6] host
        ok = False
    if not ok:
        raise out.error("base_url", f"must be an http(s) address like {EXAMPLE_BASE}, got {url!r}")
    return url


def _parse_fetch(opts: Options) -> FetchConfig:
    day = 86_400.0
    deadline = opts.number("deadline", default=0.0, min=0.001, max=day)
    fetch = FetchConfig(
        concurrency=opts.integer("concurrency", default=FetchConfig.concurrency, min=1),
        per_host=opts.integer("per_host", default=FetchConfig.per_host, min=1),
        source_deadline=opts.number(
            "source_deadline", default=FetchConfig.source_deadline, min=0.001, max=day
        ),
        deadline=deadline or None,
    )
    for name, value, most in (
        ("concurrency", fetch.concurrency, 256),
        ("per_host", fetch.per_host, 64),
    ):
        if value > most:
            raise opts.error(name, f"must be at most {most}, got {value}")
    opts.done()
    return fetch


def _check_pipeline(opts: Options, name: str) -> None:
    """`nlp.pipeline` names what the curator can load (pln.filters.nlp.load_nlp): blank:LANG, a
    folder, or an installed pipeline package, found without importing spaCy or loading it."""
    name = name.strip()
    if name.startswith("blank:"):
        lang = name.removeprefix("blank:").strip()
        if not lang:
            raise opts.error(
                "pipeline", f"spaCy pipeline {name!r} names no language; use e.g. 'blank:en'"
            )
        if not _spacy_language(lang):
            raise opts.error(
                "pipeline", f"spaCy pipeline {name!r}: spaCy has no language {lang!r} (e.g. en, de)"
            )
        return
    if not name:
        raise opts.error(
            "pipeline", "is empty; use 'blank:en' or an installed pipeline like en_core_web_sm"
        )
    folder = _expanded(opts, "pipeline", name)
    if folder.is_dir():
        missing = [f for f in ("config.cfg", "meta.json") if not (folder / f).is_file()]
        if missing:
            raise opts.error(
                "pipeline",
                f"spaCy pipeline {name!r}: folder without {' and '.join(missing)} "
                "(not a saved spaCy pipeline)",
            )
        return
    module = _installed_module(name)
    if module is not None:
        if not (module / "meta.json").is_file():  # what every spaCy pipeline package ships
            raise opts.error(
                "pipeline",
                f"spaCy pipeline {name!r}: the installed package {name} is not a spaCy pipeline "
                "(it has no meta.json)",
            )
        return
    if "/" in name or name.startswith((".", "~")):  # meant as a folder (relative to where pln runs)
        raise opts.error("pipeline", f"spaCy pipeline {name!r}: no such folder")
    as_module = _installed_module(name.replace("-", "_"))
    if as_module is not None and (as_module / "meta.json").is_file():
        raise opts.error(
            "pipeline",
            f"spaCy pipeline {name!r}: that is how pip spells it; name its module, "
            f"{as_module.name}",
        )
    raise opts.error(
        "pipeline",
        f"spaCy pipeline {name!r} is not installed: check the name, install its package "
        f"(one of spaCy's own: python -m spacy download {name}), or use 'blank:en'",
    )


def _spacy_language(lang: str) -> bool:
    """spaCy has `lang` (spacy/lang/<lang>, or a language package's entry point); True when
    spaCy itself cannot be found, for the curator to say so."""
    spec = importlib.util.find_spec("spacy")
    if spec is None or not spec.submodule_search_locations:
        return True
    if any(
        (Path(p) / "lang" / lang / "__init__.py").is_file() for p in spec.submodule_search_locations
    ):
        return True
    from importlib import metadata  # here: 17 ms that every command would pay at its start

    return any(e.name == lang for e in metadata.entry_points(group="spacy_languages"))


def _installed_module(name: str) -> Path | None:
    """The folder of an installed distribution's package `name` (what spacy.util.is_package
    asks), without importing it; None when there is none."""
    from importlib import metadata

    try:
        metadata.distribution(name)
        spec = importlib.util.find_spec(name)
    except (metadata.PackageNotFoundError, ImportError, ValueError):
        return None
    if spec is None:
        return None
    if not spec.submodule_search_locations:  # a plain module: no pipeline's folder
        return Path(spec.origin or name).with_suffix("")
    return Path(next(iter(spec.submodule_search_locations)))


def _check_can_create(opts: Options, key: str, folder: Path) -> None:
    """Raise a ConfigError at `key` unless `folder` is, or can be made, a writable folder."""
    path = folder
    while not path.exists() and path != path.parent:
        path = path.parent
    if not path.is_dir():
        what = "is a file" if path == folder else f"cannot be created: {path} is a file"
        raise opts.error(key, f"folder {folder} {what}")
    if not os.access(path, os.W_OK | os.X_OK):
        what = "is not writable" if path == folder else f"cannot be created in {path}"
        raise opts.error(key, f"folder {folder} {what} (permission denied)")


def _parse_schedule(opts: Options) -> ScheduleConfig:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from pln.cron import Cron, CronError

    crons = opts.texts("cron")
    for i, expr in enumerate(crons):
        try:
            Cron.parse(expr)
        except CronError as exc:
            raise ConfigError(opts.file, f"{opts.key('cron')}[{i}]", str(exc)) from None
    tz = opts.text("timezone", default="UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise opts.error("timezone", f"unknown time zone {tz!r} (e.g. Europe/Berlin)") from None
    schedule = ScheduleConfig(crons, tz, opts.flag("catch_up", default=True))
    opts.done()
    return schedule


def _check_topic_scopes(topics, sources, root: Options) -> None:
    names = {s.name for s in sources}
    for i, topic in enumerate(topics):
        for j, name in enumerate(topic.sources):
            if name not in names:
                raise ConfigError(
                    root.file, f"topics[{i}].sources[{j}]", f"no source named {name!r}"
                )


def _items(root: Options, name: str, required: bool) -> list[Any]:
    value = root._get(name, (list,), required, [], "a list")
    if required and not value:
        raise root.missing(name, "must list at least one entry")
    return value


def _check_name(opts: Options, key: str, value: str, seen: set[str]) -> None:
    if not NAME_RE.match(value):
        raise opts.error(key, f"{value!r} must be lower-case letters, digits, '.', '_' or '-'")
    if value in seen:
        raise opts.error(key, f"duplicate name {value!r}")
    seen.add(value)


def _source_entries(root: Options, file: str, base_dir: Path):
    """(file, key, entry) for `sources:` and every file listed in `include_sources:`."""
    includes = root.texts("include_sources")
    entries = [(file, f"sources[{i}]", e) for i, e in enumerate(_items(root, "sources", False))]
    for n, name in enumerate(includes):
        path = (base_dir / name).resolve()
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise root.error(f"include_sources[{n}]", f"file not found: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            first = str(exc).splitlines()[0]
            raise ConfigError(str(path), "", f"cannot read included sources: {first}") from None
        data = read_yaml(text, str(path)) or []
        if not isinstance(data, list):
            raise ConfigError(str(path), "", "must be a YAML list of sources")
        entries += [(str(path), f"[{i}]", e) for i, e in enumerate(data)]
    if not entries:
        raise root.missing("sources", "must list at least one entry")
    return entries


def _parse_sources(root: Options, file: str, base_dir: Path) -> tuple[SourceConfig, ...]:
    seen: set[str] = set()
    out = []
    for where, key, entry in _source_entries(root, file, base_dir):
        if not isinstance(entry, dict):
            raise ConfigError(where, key, "must be a mapping with at least name and type")
        opts = Options(entry, where, key, base_dir)
        name = opts.text("name", required=True)
        _check_name(opts, "name", name, seen)
        stype = opts.text("type", required=True)
        interval = opts.number("interval", default=900.0, min=1.0)
        enabled = opts.flag("enabled", default=True)
        specific = {k: v for k, v in entry.items() if k not in opts._read}
        out.append(SourceConfig(name, stype, specific, base_dir, where, key, interval, enabled))
    return tuple(out)


def _parse_topics(root: Options, file: str, base_dir: Path) -> tuple[TopicConfig, ...]:
    seen: set[str] = set()
    out = []
    for i, entry in enumerate(_items(root, "topics", required=True)):
        key = f"topics[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(file, key, "must be a mapping with at least id and phrases")
        opts = Options(entry, file, key, base_dir)
        topic_id = opts.text("id", required=True)
        _check_name(opts, "id", topic_id, seen)
        topic = TopicConfig(
            id=topic_id,
            title=opts.text("title", default=topic_id),
            description=opts.text("description"),
            phrases=opts.texts("phrases"),
            hashtags=tuple(
                h.lstrip("#").lower() for h in _one_word_tags(opts, "hashtags", topic_id)
            ),
            must=_one_word_tags(opts, "must", topic_id),
            any=_one_word_tags(opts, "any", topic_id),
            none=_one_word_tags(opts, "none", topic_id),
            boost_authors=tuple(a.lstrip("@").lower() for a in opts.texts("boost_authors")),
            block_authors=tuple(a.lstrip("@").lower() for a in opts.texts("block_authors")),
            sources=opts.texts("sources"),
            languages=_languages(opts),
            threshold=opts.number("threshold", default=0.5, min=0.0, max=1.0),
            max_items=opts.integer("max_items", default=0, min=1),
            digest=opts.text("digest"),
        )
        opts.done()
        if topic.digest not in ("", "daily", "weekly"):
            raise opts.error("digest", f"must be daily or weekly, got {topic.digest!r}")
        if not (topic.phrases or topic.hashtags or topic.must or topic.any):
            raise opts.error(
                "phrases", "a topic needs at least one of phrases, hashtags, must, any"
            )
        out.append(topic)
    return tuple(out)


def _one_word_tags(opts: Options, name: str, topic_id: str) -> tuple[str, ...]:
    """`opts.texts(name)` with every hashtag in it one word: a tag with a space never matches
    (feeds drop the spaces of their tags). In `hashtags` every entry is one, elsewhere "#tag"."""
    entries = opts.texts(name)
    for i, entry in enumerate(entries):
        is_tag = name == "hashtags" or entry.startswith("#")
        if is_tag and len(entry.split()) > 1:
            joined = "".join(entry.lstrip("#").split())
            raise ConfigError(
                opts.file,
                f"{opts.key(name)}[{i}]",
                f"topic {topic_id}: hashtag {entry!r} has a space; a hashtag is one word "
                f"(e.g. #{joined})",
            )
    return entries


def _languages(opts: Options) -> tuple[str, ...]:
    """`languages`: ISO 639-1 codes, lower-cased (a region as in en-US is allowed)."""
    codes = opts.texts("languages")
    for i, code in enumerate(codes):
        match = LANGUAGE_RE.match(code.lower())
        if not match or match[1] not in LANGUAGE_CODES:
            raise ConfigError(
                opts.file,
                f"{opts.key('languages')}[{i}]",
                f"{code!r} is not a language code (e.g. en)",
            )
    return tuple(code.lower() for code in codes)
