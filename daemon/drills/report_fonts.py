"""The CJK font of the drill record, embedded: a filed record must show its names and headings on any machine.

The record names people and headings in Chinese; a machine without a CJK system font (most servers, this
project's CI) would print them as empty boxes, in the HTML and in the PDF Chromium makes of it. The console already
ships Noto Sans SC (SIL Open Font License, from the npm registry, ``daemon/web/console/vendor/noto-sans-sc``) split
by Unicode range into about a hundred WOFF2 files; the record embeds, as data URIs, only the files whose range holds
a character it uses (a few hundred KB for a typical record), so it needs neither the network nor the console at
view or print time.
"""

from __future__ import annotations

import base64
import re
from functools import cache
from pathlib import Path

FONT_DIR = Path(__file__).resolve().parent.parent / "web" / "console" / "vendor" / "noto-sans-sc"
FAMILY = "Noto Sans SC"
_FACE = re.compile(r"src:\s*url\(\./(?P<file>files/[^)]+\.woff2)\)[^;]*;\s*unicode-range:\s*(?P<ranges>[^;]+);")
# Characters the Latin fonts of the record cover: nothing to embed for them.
_FIRST_WIDE = 0x2E80


@cache
def _subsets() -> tuple[tuple[str, tuple[tuple[int, int], ...]], ...]:
    """(file, code point ranges) per subset, from the package's stylesheet."""
    css = (FONT_DIR / "400.css").read_text(encoding="utf-8")
    out = []
    for face in _FACE.finditer(css):
        ranges = []
        for part in face["ranges"].split(","):
            low, _, high = part.strip().removeprefix("U+").partition("-")
            ranges.append((int(low, 16), int(high or low, 16)))
        out.append((face["file"], tuple(ranges)))
    return tuple(out)


def font_faces(text: str) -> str:
    """``@font-face`` rules, fonts inline, for the CJK characters of ``text`` ("" when it has none)."""
    wanted = sorted({ord(ch) for ch in text if ord(ch) >= _FIRST_WIDE})
    if not wanted:
        return ""
    rules = []
    for file, ranges in _subsets():
        if any(low <= code <= high for code in wanted for low, high in ranges):
            data = base64.b64encode((FONT_DIR / file).read_bytes()).decode("ascii")
            span = ",".join(f"U+{low:x}" if low == high else f"U+{low:x}-{high:x}" for low, high in ranges)
            rules.append(
                f"@font-face {{ font-family: '{FAMILY}'; font-weight: 400; font-style: normal; "
                f"src: url(data:font/woff2;base64,{data}) format('woff2'); unicode-range: {span}; }}"
            )
    return "\n".join(rules)
