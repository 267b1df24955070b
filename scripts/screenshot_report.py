"""Open a run's report.html in headless Chromium at a given width: screenshot it and check for overflow.

    python scripts/screenshot_report.py results/default [--width 1280] [-o report.png]

Users read the report in a browser, so this checks it in one: the page must not be wider than the
window (wide tables scroll inside their own box instead of pushing the page sideways). The report
is copied to a temporary file with one extra line of JavaScript that writes the page's scroll width
into the title; Chromium's ``--dump-dom`` returns it. Needs Debian's ``chromium`` package.
Exit 0 when the page fits, 1 when it overflows, 2 when Chromium or the report is missing.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]
PROBE = ("<script>window.addEventListener('load', function () { document.title = 'mt-eval-width:' + "
         "document.documentElement.scrollWidth + ':' + window.innerWidth; });</script>")


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def measure(report: Path, width: int, browser: str, profile: Path) -> tuple[int, int]:
    """(page scroll width, window inner width) in CSS pixels."""
    probe = profile / "probe.html"
    page = report.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>")
    probe.write_text(page, encoding="utf-8")
    dom = subprocess.run([browser, *FLAGS, f"--user-data-dir={profile / 'p'}", f"--window-size={width},900",
                          "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    match = re.search(r"mt-eval-width:(\d+):(\d+)", dom)
    if match is None:
        raise SystemExit("chromium did not report the page width")
    return int(match.group(1)), int(match.group(2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="run folder (or its report.html)")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("-o", "--output", type=Path, help="screenshot PNG (default: none)")
    args = parser.parse_args()
    report = args.run / "report.html" if args.run.is_dir() else args.run
    browser = chromium()
    if browser is None or not report.is_file():
        print(f"error: {'chromium not found (apt-get install chromium)' if browser is None else report}"
              f"{'' if browser is None else ': not found'}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        page, window = measure(report, args.width, browser, Path(tmp))
        if args.output is not None:
            subprocess.run([browser, *FLAGS, f"--user-data-dir={Path(tmp) / 'q'}",
                            f"--window-size={args.width},1400", f"--screenshot={args.output.resolve()}",
                            report.resolve().as_uri()], capture_output=True, timeout=120, check=False)
    fits = page <= window
    print(f"{report}: page {page} px wide in a {window} px window: {'fits' if fits else 'OVERFLOWS'}")
    return 0 if fits else 1


if __name__ == "__main__":
    sys.exit(main())
