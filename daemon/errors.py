"""The daemon's error hierarchy."""


class HazwatchError(Exception):
    """Base of every error hazwatch raises on purpose."""


class ConfigError(HazwatchError):
    """A config, site, rule, plan or roster file is invalid.

    ``issues`` lists every problem found, each already formatted as ``file:line: field: message``.
    """

    def __init__(self, issues: list[str]) -> None:
        super().__init__("\n".join(issues))
        self.issues = issues
