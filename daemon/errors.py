"""The daemon's error hierarchy."""

from __future__ import annotations

from collections.abc import Iterable

from rules.yaml_source import ConfigIssue


class HazwatchError(Exception):
    """Base of every error hazwatch raises on purpose."""

    exit_code = 1  # what `hazwatch` exits with when this ends a command


class PortInUseError(HazwatchError):
    """A listen address is taken by another process: said in one line, exit status 2 (like invalid input)."""

    exit_code = 2


class ConfigError(HazwatchError):
    """A config, site, rule, plan or roster file is invalid.

    ``issues`` lists every problem found, each already formatted as ``file:line: field: message``.
    """

    def __init__(self, issues: list[str]) -> None:
        super().__init__("\n".join(issues))
        self.issues = issues

    @classmethod
    def from_issues(cls, issues: Iterable[ConfigIssue]) -> ConfigError:
        """From located issues of the rules/plans loaders."""
        return cls([format_issue(issue) for issue in issues])


def format_issue(issue: ConfigIssue) -> str:
    """``file:line: field: message`` (the field is left out when the whole file is at fault)."""
    where = f"{issue.file}:{issue.line}" if issue.line else issue.file
    return f"{where}: {issue.field}: {issue.message}" if issue.field else f"{where}: {issue.message}"
