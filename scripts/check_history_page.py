"""Build the five-run history (``mt_eval.testing.history_runs``) and check its page in headless Chromium.

    python scripts/check_history_page.py [--width 1280] [--out results]

Checks, at the given window width: the page renders (the DOM Chromium returns holds every chart, each
with its points as links), it is no wider than the window (no horizontal scrolling), the browser
logged no console message (a canary page with a console error must trip the same detector first), and
every link and source on the page is a file inside the site (nothing from the network). Writes
``results/history_check.png`` (the whole page) and ``results/history_check.json`` (the verdict and what
was measured). Needs Debian's ``chromium``.
Exit 0 when every check passes, 1 when one fails, 2 when Chromium is missing.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]
# writes what the checks need into the title, which --dump-dom returns; added to a probe copy only
PROBE = ("<script>window.addEventListener('load', function () { var d = document.documentElement;"
         " document.title = 'mt-eval-probe:' + d.scrollWidth + ':' + window.innerWidth + ':' + d.scrollHeight"
         " + ':' + document.querySelectorAll('svg.chart').length + ':'"
         " + document.querySelectorAll('svg.chart a circle').length; });</script>")
# Chromium logs every console message of a page as ``...:INFO:CONSOLE:1] "text", source: ...`` (older
# builds: ``CONSOLE(1)``); the page has no script of its own, so any such line is an error
CONSOLE = re.compile(r"CONSOLE[(:]\d+|Uncaught")
#: a page that must trip the console detector (checked first, so a silent browser cannot pass)
CANARY = "<html><body><script>console.error('mt-eval canary'); notDefined();</script></body></html>"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.links.append(value)


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def broken_links(site: Path) -> tuple[int, list[str]]:
    parser = _Links()
    page = (site / "index.html").read_text(encoding="utf-8")
    parser.feed(page)
    bad = []
    for link in parser.links:
        parts = urlsplit(link)
        if link.startswith("#"):
            if f'id="{link[1:]}"' not in page:
                bad.append(f"{link}: no such anchor")
        elif parts.scheme or parts.netloc:
            bad.append(f"{link}: leaves the site")
        elif not (site / unquote(parts.path)).is_file():
            bad.append(f"{link}: no such file")
    return len(parser.links), bad


def console_lines(browser: str, page: Path, profile: Path) -> list[str]:
    run = subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=180)
    return [line for line in run.stderr.splitlines() if CONSOLE.search(line)]


def browse(page: Path, width: int, browser: str, profile: Path, screenshot: Path) -> dict[str, object]:
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    run = subprocess.run([browser, *FLAGS, f"--user-data-dir={profile / 'a'}", f"--window-size={width},900",
                          "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=180)
    probe.unlink()
    match = re.search(r"mt-eval-probe:(\d+):(\d+):(\d+):(\d+):(\d+)", run.stdout)
    console = [line for line in run.stderr.splitlines() if CONSOLE.search(line)]
    found: dict[str, object] = {"dom_bytes": len(run.stdout), "console_errors": console}
    if match is None:
        return {**found, "rendered": False}
    scroll, inner, height, charts, points = (int(g) for g in match.groups())
    shot = subprocess.run([browser, *FLAGS, f"--user-data-dir={profile / 'b'}",
                           f"--window-size={width},{min(max(height, 900), 16000)}",
                           f"--screenshot={screenshot}", page.as_uri()],
                          capture_output=True, text=True, timeout=180)
    console += [line for line in shot.stderr.splitlines() if CONSOLE.search(line)]
    return {**found, "rendered": True, "scroll_width": scroll, "window_width": inner, "page_height": height,
            "charts": charts, "linked_points": points, "screenshot": str(screenshot),
            "screenshot_written": screenshot.is_file(), "console_errors": console}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--out", type=Path, default=Path("results"), help="folder for the PNG and JSON")
    args = parser.parse_args()
    browser = chromium()
    if browser is None:
        print("error: chromium not found (apt-get install chromium)", file=sys.stderr)
        return 2
    from mt_eval.history.site import make_history
    from mt_eval.testing.history_runs import five_runs

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        runs = five_runs(root / "work")
        written = make_history([runs[0].parent], root / "site")
        built = time.perf_counter() - started
        site = written.index.parent
        n_links, bad_links = broken_links(site)
        canary = root / "canary.html"
        canary.write_text(CANARY, encoding="utf-8")
        detector = len(console_lines(browser, canary, root / "c"))
        measured = browse(written.index.resolve(), args.width, browser, root,
                          (args.out / "history_check.png").resolve())
        expected_charts = len(written.history.panels())
        expected_points = sum(len(line.points) for line in written.history.lines)
    checks = {
        "renders": bool(measured.get("rendered")) and measured.get("charts") == expected_charts
        and measured.get("linked_points") == expected_points and bool(measured.get("screenshot_written")),
        "fits_width": bool(measured.get("rendered")) and int(str(measured.get("scroll_width", 1 << 30)))
        <= int(str(measured.get("window_width", 0))),
        "no_console_errors": not measured.get("console_errors") and detector >= 2,
        "links_resolve": not bad_links and n_links > 0,
    }
    verdict = {"pass": all(checks.values()), "checks": checks, "width": args.width,
               "expected_charts": expected_charts, "expected_linked_points": expected_points,
               "links": n_links, "broken_links": bad_links,
               "console_detector_lines_on_canary": detector, "build_seconds": round(built, 2), **measured}
    (args.out / "history_check.json").write_text(json.dumps(verdict, indent=2) + "\n", encoding="utf-8")
    for name, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    print(f"wrote {args.out / 'history_check.json'} and {args.out / 'history_check.png'}")
    return 0 if verdict["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
