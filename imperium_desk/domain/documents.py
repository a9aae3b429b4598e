"""Reading the YAML/JSON documents a user writes (configs, scenarios, run.json, the instruments file), bounded:
a hostile file (an alias bomb, deep nesting, a binary or huge file, NaN) is refused with one line before anything is
built from it. The bottom layer, so every reader of such a file (the instruments catalog included) uses it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A config or data file was rejected. `errors` holds one line per problem: `source: path: message`."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


# -- reading YAML/JSON documents ----------------------------------------------------------------------------------
# Configs and scenarios are a few kilobytes; these bounds refuse a hostile file before anything is built, walked or
# validated, and keep the worst file that passes them to about a second and tens of MB (README "Input limits").
MAX_DOCUMENT_BYTES = 256 << 10  # a config, scenario or run.json file; the largest shipped is under 4 KiB
MAX_DOCUMENT_DEPTH = 64  # nested mappings/sequences; the deepest shipped file nests 6
MAX_ALIAS_EXPANSION = 10_000  # nodes that aliases (`*name`) add when the document is expanded
# libyaml, when installed, parses (10 to 20 times faster than PyYAML's parser; the constructor and resolver are
# PyYAML's either way). A file it refuses is parsed again by PyYAML, whose error messages users see in every install.
_FAST_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_document(path: Path) -> Any:
    """Parse a YAML or JSON file (JSON is YAML), with errors that name the file and line."""
    return parse_document(read_document_text(path), str(path))


def read_document_text(path: Path) -> str:
    """The text of a config or scenario file: at most `MAX_DOCUMENT_BYTES`, UTF-8. Reads no more than that,
    whatever the file (a device, a file still growing)."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ConfigError([f"{path}: larger than {MAX_DOCUMENT_BYTES} bytes; configs and scenarios are kilobytes"])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text: {exc.reason} at byte {exc.start}"]) from None


def parse_document(text: str, source: str) -> Any:
    """Parse YAML or JSON text, with errors that name `source` and the line.

    Bounded: text over `MAX_DOCUMENT_BYTES`, nesting deeper than `MAX_DOCUMENT_DEPTH`, aliases that expand to
    more than `MAX_ALIAS_EXPANSION` nodes (a "billion laughs") and recursive aliases are refused from the event
    stream, before any object is built, so the load and everything that walks its result stay small."""
    if len(text) > MAX_DOCUMENT_BYTES:
        raise ConfigError([f"{source}: larger than {MAX_DOCUMENT_BYTES} bytes; configs and scenarios are kilobytes"])
    try:
        loader = _FAST_LOADER
        try:
            _check_shape(text, source, loader)
        except yaml.YAMLError:  # PyYAML's parser may accept what libyaml refuses, and its words are the ones shown
            loader = yaml.SafeLoader
            _check_shape(text, source, loader)
        document = yaml.load(text, Loader=loader)  # a safe loader either way: SafeConstructor
    except ConfigError:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError([f"{source}:{where} not valid YAML/JSON: {getattr(exc, 'problem', None) or exc}"]) from None
    except ValueError as exc:  # a scalar the constructor cannot build: an integer of 5,000 digits, 2026-13-45
        raise ConfigError([f"{source}: not valid YAML/JSON: {str(exc).split(';')[0][:200]}"]) from None
    non_finite = _non_finite_at(document)
    if non_finite is not None:
        raise ConfigError([f"{source}: {non_finite or '(top level)'}: not a finite number (.nan and .inf are refused)"])
    return document


_Entry = tuple[Any, Any, Any]  # a value met walking a document: (its parent's entry or None, its key, the value)


def _non_finite_at(document: Any) -> str | None:
    """The path of a NaN or infinity in a loaded document (None: there is none). No setting takes one,
    and a NaN compares false with every bound a schema sets, so it is refused here, naming where it is.
    Walks the document without recursion (`_check_shape` has bounded what there is to walk), and spells a path
    only for the value it reports: each entry keeps its parent's entry and its own key."""
    pending: list[_Entry] = [(None, None, document)]
    while pending:
        entry = pending.pop()
        value = entry[2]
        if isinstance(value, float) and not math.isfinite(value):
            return _spelled_path(entry)
        if isinstance(value, dict):
            pending.extend((entry, key, item) for key, item in value.items())
        elif isinstance(value, list):
            pending.extend((entry, index, item) for index, item in enumerate(value))
    return None


def _spelled_path(entry: _Entry) -> str:
    keys: list[str] = []
    node: _Entry | None = entry
    while node is not None and node[0] is not None:
        keys.append(str(node[1])[:80])
        node = node[0]
    return ".".join(reversed(keys))


class _Collection:
    """A mapping or sequence being read from the event stream: its anchor, and its size (nodes) and height
    (collections nested in it, itself included) so far, counting what aliases in it expand to."""

    __slots__ = ("anchor", "height", "size")

    def __init__(self, anchor: str | None) -> None:
        self.anchor = anchor
        self.size = 1
        self.height = 1


def _check_shape(text: str, source: str, loader: type[yaml.SafeLoader]) -> None:
    """Refuse a document too deep, or whose aliases expand too far, reading only its events (no objects)."""
    anchored: dict[str, tuple[int, int]] = {}  # anchor -> (expanded size, height) of the node it names
    open_: list[_Collection] = []
    expansion = 0

    def close(anchor: str | None, size: int, height: int, line: int) -> None:
        if anchor is not None:
            anchored[anchor] = (size, height)
        if open_:
            parent = open_[-1]
            parent.size += size
            parent.height = max(parent.height, height + 1)
            if len(open_) - 1 + parent.height > MAX_DOCUMENT_DEPTH:
                raise ConfigError([f"{source}: line {line}: nested deeper than {MAX_DOCUMENT_DEPTH} levels "
                                   "(counting what aliases expand to)"])

    for event in yaml.parse(text, Loader=loader):
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        if isinstance(event, yaml.CollectionStartEvent):
            if len(open_) >= MAX_DOCUMENT_DEPTH:
                raise ConfigError([f"{source}: line {line}: nested deeper than {MAX_DOCUMENT_DEPTH} levels"])
            open_.append(_Collection(event.anchor))
        elif isinstance(event, yaml.CollectionEndEvent):
            done = open_.pop()
            close(done.anchor, done.size, done.height, line)
        elif isinstance(event, yaml.ScalarEvent):
            close(event.anchor, 1, 0, line)
        elif isinstance(event, yaml.AliasEvent):
            target = anchored.get(event.anchor or "")
            if target is None:
                if any(c.anchor == event.anchor for c in open_):
                    raise ConfigError([f"{source}: line {line}: alias *{event.anchor} refers to a node containing it"])
                continue  # an undefined alias: the loader names it
            expansion += target[0]
            if expansion > MAX_ALIAS_EXPANSION:
                raise ConfigError([f"{source}: line {line}: aliases expand to more than {MAX_ALIAS_EXPANSION} "
                                   "nodes (an alias bomb?); write the values out"])
            close(None, target[0], target[1], line)
