"""``report --html`` in a real headless browser (Debian's ``chromium``): the
page renders at a phone's size, and the page itself asks for nothing over
the network (chromium's own background requests, whose initiator is "not
an origin", are not the page's).

Skipped when chromium is not installed, except under CI (``CI=true``),
where .ci/run installs it and its absence is a failure."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_report import PERIOD, shop  # noqa: F401  (fixture)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def browser() -> str:
    if not CHROMIUM:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("chromium is not installed (apt-get install -y chromium)", pytrace=False)
        pytest.skip("chromium is not installed")
    return CHROMIUM


def _render(browser: str, page: Path, tmp: Path) -> tuple[Path, list[str]]:
    """Screenshot ``page`` at 390×844; the URLs the page itself requested."""
    shot, netlog = tmp / f"{page.stem}.png", tmp / f"{page.stem}.netlog.json"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         f"--user-data-dir={tmp / ('profile-' + page.stem)}", f"--screenshot={shot}",
         "--window-size=390,844", f"--log-net-log={netlog}", page.as_uri()],
        capture_output=True, timeout=120, check=True)
    log = json.loads(netlog.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    asked = [e["params"]["url"] for e in log["events"]
             if e["type"] == start_job and "url" in e.get("params", {})
             and e["params"].get("initiator") != "not an origin"]
    return shot, asked


def _png_pixels(path: Path) -> bytes:
    """The decompressed scanlines of a PNG (filter bytes included)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    return zlib.decompress(idat)


def test_html_report_renders_on_a_phone_and_fetches_nothing(
        browser: str, shop: Any, tmp_path: Path) -> None:  # noqa: F811
    page = tmp_path / "report.html"
    assert shop(*PERIOD, "--by", "channel", "--html", str(page)).code == 0
    shot, asked = _render(browser, page, tmp_path)
    assert asked == []
    pixels = _png_pixels(shot)
    # a blank page filters to runs of one value; charts and text do not
    busy = sum(1 for b in pixels if b not in (0, 255)) / len(pixels)
    assert busy > 0.01, busy
    assert len(set(pixels)) > 50

    # The same check sees a page that does fetch something.
    bad = tmp_path / "bad.html"
    bad.write_text('<!doctype html><p>x</p><img src="http://127.0.0.1:9/pixel.png">')
    _, asked = _render(browser, bad, tmp_path)
    assert asked == ["http://127.0.0.1:9/pixel.png"]
