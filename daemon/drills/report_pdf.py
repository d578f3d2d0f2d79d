"""The drill record as a PDF: Chromium's own print-to-PDF of the HTML page (A4 from the page's print CSS)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from daemon.errors import HazwatchError

DEFAULT_CHROMIUM = "/usr/bin/chromium"
PRINT_TIMEOUT_S = 60.0


class ReportPdfError(HazwatchError):
    """The PDF could not be printed."""


def find_chromium(explicit: str | None = None) -> str:
    """The Chromium to print with: ``explicit``, ``HAZWATCH_CHROMIUM``, /usr/bin/chromium, or one on PATH."""
    for candidate in (explicit, os.environ.get("HAZWATCH_CHROMIUM"), DEFAULT_CHROMIUM):
        if candidate and Path(candidate).exists():
            return candidate
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise ReportPdfError("no Chromium found to print the PDF (install chromium or set HAZWATCH_CHROMIUM)")


def print_pdf(html_path: Path, pdf_path: Path, *, chromium: str | None = None) -> Path:
    """Print ``html_path`` to ``pdf_path`` with headless Chromium; returns the PDF path."""
    binary = find_chromium(chromium)
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        binary,
        "--headless",
        "--no-sandbox",  # services often run as root, where Chromium refuses its sandbox
        "--disable-gpu",
        "--no-pdf-header-footer",
        f"--print-to-pdf={pdf_path.resolve()}",
        html_path.resolve().as_uri(),
    ]
    try:
        done = subprocess.run(command, capture_output=True, timeout=PRINT_TIMEOUT_S, check=False)  # noqa: S603
    except subprocess.TimeoutExpired as exc:
        raise ReportPdfError(f"Chromium did not print {html_path} within {PRINT_TIMEOUT_S:g} s") from exc
    if done.returncode != 0 or not pdf_path.exists() or pdf_path.stat().st_size == 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise ReportPdfError(f"Chromium failed to print {html_path}: {' '.join(tail)}")
    return pdf_path
