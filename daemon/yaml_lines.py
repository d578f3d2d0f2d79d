"""Load YAML remembering where every key came from, so config errors can name file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from daemon.errors import ConfigError

LinePath = tuple[str, ...]


def _walk(node: yaml.Node, path: LinePath, out: dict[LinePath, int]) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value)
            out[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, str(index)), out)


def load_yaml_with_lines(path: Path) -> tuple[Any, dict[LinePath, int]]:
    """Parse a YAML file; return its data and a map from key path to 1-based line number."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError([f"{where}: invalid YAML: {exc}"]) from exc
    lines: dict[LinePath, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return data, lines


def line_of(lines: dict[LinePath, int], loc: LinePath) -> int | None:
    """The line of the deepest known prefix of ``loc``."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def format_validation_error(exc: ValidationError, file: str, lines: dict[LinePath, int]) -> list[str]:
    """One ``file:line: field: message`` string per pydantic error."""
    issues: list[str] = []
    for error in exc.errors():
        loc = tuple(str(part) for part in error["loc"])
        line = line_of(lines, loc)
        where = f"{file}:{line}" if line is not None else file
        field = ".".join(loc) or "<root>"
        issues.append(f"{where}: {field}: {error['msg']}")
    return issues
