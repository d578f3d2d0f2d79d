"""Load YAML config files keeping the line of every node, and turn validation errors into located issues."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from rules.errors import RulesError

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a config file, where to find it, and what is wrong."""

    file: str
    line: int  # 1-based; 0 when the file could not be read at all
    field: str  # dotted path, e.g. ``rules.3.condition.name``
    message: str
    severity: str = "error"


class ConfigFileError(RulesError):
    """A config file failed validation; ``issues`` say where."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        super().__init__("; ".join(f"{i.file}:{i.line}: {i.field}: {i.message}" for i in issues[:5]))
        self.issues = issues


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """A parsed YAML file with the line number of every mapping key and list item."""

    file: str
    data: Any
    lines: dict[Loc, int]

    def line_of(self, loc: Loc) -> int:
        """Line of the deepest node on ``loc`` that exists; pydantic's union tags are skipped."""
        best: Loc = ()
        for part in loc:
            candidate = (*best, part)
            if candidate in self.lines:
                best = candidate
        return self.lines.get(best, 1)

    def issue(self, loc: Loc, message: str) -> ConfigIssue:
        """An issue located at ``loc``."""
        return ConfigIssue(self.file, self.line_of(loc), ".".join(str(p) for p in loc), message)


def _index(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*loc, str(key.value))
            # the key's line, not the value's: that is where a reader looks for the field
            lines[child] = key.start_mark.line + 1
            _index(value, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*loc, i), lines)


def text_line_of(data: bytes, offset: int) -> int:
    """The 1-based line number of byte ``offset`` in ``data``."""
    return data.count(b"\n", 0, offset) + 1


# libyaml's parser when PyYAML was built with it (several times faster than the pure-Python one: a drill replay
# loads its rule files twice, and parsing was a third of a short replay's CPU); the same safe tag set either way.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose_and_construct(text: str) -> tuple[yaml.Node | None, Any]:
    """One parse: the node tree (for line marks) and the Python data built from that same tree."""
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        return node, (None if node is None else loader.construct_document(node))
    finally:
        loader.dispose()


def load_yaml(path: str | Path) -> YamlDocument:
    """Parse a YAML file with line marks; raise ``ConfigFileError`` if it is unreadable or not YAML."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigFileError([ConfigIssue(name, 0, "", f"cannot read file: {exc}")]) from exc
    except UnicodeDecodeError as exc:
        # YAML 1.2 section 5.2: a file is UTF-8 (or UTF-16/32 with a BOM); say where the bad byte is.
        line = text_line_of(Path(path).read_bytes(), exc.start)
        raise ConfigFileError(
            [ConfigIssue(name, line, "", f"not UTF-8 text: byte 0x{exc.object[exc.start]:02x} at offset {exc.start}")]
        ) from exc
    try:
        node, data = _compose_and_construct(text)
    except (yaml.YAMLError, RecursionError) as exc:  # a deeply nested file exhausts PyYAML's recursion
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise ConfigFileError([ConfigIssue(name, line, "", f"not valid YAML: {exc}")]) from exc
    lines: dict[Loc, int] = {}
    if node is not None:
        _index(node, (), lines)
    return YamlDocument(name, data, lines)


def validation_issues(doc: YamlDocument, error: ValidationError) -> list[ConfigIssue]:
    """One located issue per pydantic error."""
    return [doc.issue(tuple(e["loc"]), e["msg"]) for e in error.errors()]


def parse_model(doc: YamlDocument, model: type[M]) -> M:
    """Validate a document against a model; raise ``ConfigFileError`` with located issues."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigFileError(validation_issues(doc, exc)) from exc
