"""report.html in a real browser: headless Chromium renders it, takes a screenshot, and measures the page.

Needs Debian's ``chromium`` (``apt-get install -y chromium``; ``.ci/run`` installs it where it can).
Without it the tests are skipped with a message. What is checked at a 1280 px wide window:

- the screenshot is a PNG of that width;
- the page does not scroll sideways (``document.documentElement.scrollWidth <= innerWidth``):
  wide tables scroll inside their own box instead;
- no interval cell is wrapped over several lines;
- a deliberately too-wide page *is* measured as overflowing (the measurement works).

The measuring script is added to a copy of the page for the test only; report.html has no script.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from _report_fixtures import fixed_result

from xsell_eval.results import write_run

WIDTH = 1280


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(
        "chromium not installed (Debian: apt-get install -y chromium; .ci/run installs it): browser test skipped"
    )


FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]

MEASURE = """
<script>
window.addEventListener("load", () => {
  const de = document.documentElement;
  let wrapped = 0;
  const cells = document.querySelectorAll("td.interval");
  for (const td of cells) {
    const range = document.createRange();
    range.selectNodeContents(td);
    const lh = parseFloat(getComputedStyle(td).lineHeight);
    if (range.getBoundingClientRect().height > 1.6 * lh) wrapped++;
  }
  const scrolling = [...document.querySelectorAll(".table-wrap")].filter(d => d.scrollWidth > d.clientWidth).length;
  const out = document.createElement("pre");
  out.id = "xsell-measure";
  out.textContent = JSON.stringify({scrollWidth: de.scrollWidth, innerWidth: window.innerWidth,
    intervals: cells.length, wrapped: wrapped, scrollingTables: scrolling,
    tocLinks: document.querySelectorAll("nav.toc a").length});
  document.body.appendChild(out);
});
</script>
"""


def _run(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    cmd = [_chromium(), *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)


def _measure(page: Path, tmp: Path) -> dict[str, int]:
    probe = tmp / f"measure-{page.name}"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    done = _run(
        [f"--window-size={WIDTH},900", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()], tmp / "profile-dom"
    )
    m = re.search(r'<pre id="xsell-measure">(.*?)</pre>', done.stdout, flags=re.S)
    assert m, f"no measurement in the dumped DOM (exit {done.returncode}):\n{done.stderr[-2000:]}"
    return json.loads(html.unescape(m.group(1)))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _chromium()
    d = tmp_path_factory.mktemp("run") / "run"
    write_run(fixed_result(), d, html=True)
    return d / "report.html"


def test_screenshot_is_a_png_of_the_window_width(report_html: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    done = _run([f"--window-size={WIDTH},2400", f"--screenshot={shot}", report_html.as_uri()], tmp_path / "profile")
    assert shot.is_file(), f"no screenshot (exit {done.returncode}):\n{done.stderr[-2000:]}"
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert (width, height) == (WIDTH, 2400)
    assert len(data) > 50_000  # a rendered page, not a blank one


def test_no_horizontal_overflow_at_1280_px(report_html: Path, tmp_path: Path) -> None:
    m = _measure(report_html, tmp_path)
    assert m["innerWidth"] == WIDTH
    assert m["scrollWidth"] <= m["innerWidth"], m  # the page never scrolls sideways
    assert m["intervals"] > 20 and m["wrapped"] == 0, m  # interval cells on one line
    assert m["scrollingTables"] >= 1, m  # the widest table scrolls inside its box instead
    assert m["tocLinks"] >= 10, m


def test_the_measurement_sees_an_overflowing_page(tmp_path: Path) -> None:
    _chromium()
    wide = tmp_path / "wide.html"
    wide.write_text('<!DOCTYPE html><html><body><div style="width:2000px">x</div></body></html>', encoding="utf-8")
    m = _measure(wide, tmp_path)
    assert m["scrollWidth"] > m["innerWidth"] == WIDTH
