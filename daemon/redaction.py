"""Secrets out of text that is logged, stored or shown: passwords in URLs, tokens in query strings and paths.

A webhook URL often is the secret (a robot's ``access_token``/``key`` parameter, a token as a path segment, a
password in ``user:password@``). Error messages from HTTP libraries quote the URL, and they end up in log lines and
in ``notifications.last_error``, which any viewer may read. Everything that logs or stores such text passes it
through ``redact`` first.
"""

from __future__ import annotations

import re

MASK = "***"
# user:password@ in any scheme://
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/\s:@]*):(?P<password>[^/\s@]*)@")
# key=value pairs whose name says secret (query strings, form bodies, log text)
_SECRET_PARAM = re.compile(
    r"(?P<name>\b(?:access_token|token|key|secret|password|passwd|pwd|sign|signature|sig|api_key|apikey|auth)=)"
    r"(?P<value>[^&\s'\"<>]+)",
    re.IGNORECASE,
)
# Long opaque path segments (Slack/Discord/Teams style webhook tokens): 16+ URL-safe characters with a digit.
_TOKEN_SEGMENT = re.compile(
    r"(?<=/)(?=[A-Za-z0-9_\-]*\d)(?=[A-Za-z0-9_\-]*[A-Za-z])[A-Za-z0-9_\-]{16,}(?![A-Za-z0-9_\-])"
)
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")


def redact(text: str) -> str:
    """``text`` with URL passwords, secret-named parameters and token-like URL path segments masked."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _SECRET_PARAM.sub(lambda m: f"{m['name']}{MASK}", text)
    return _URL.sub(_redact_path, text)


def _redact_path(match: re.Match[str]) -> str:
    url = match.group(0)
    scheme_end = url.find("://") + 3
    path_start = url.find("/", scheme_end)
    if path_start < 0:
        return url
    return url[:path_start] + _TOKEN_SEGMENT.sub(MASK, url[path_start:])
