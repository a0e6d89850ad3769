"""Render every plotly figure of a diagnostics report to PNG with headless Chromium, for the README.

    python tools/report_figures.py docs/report/report.html docs/report/figures

Titles and axes are those of the report's language (`python -m diagnostics render … --lang zh` writes a Chinese
report.html); a figure with a Chinese title is named by its check.

Needs playwright and Debian's chromium (/usr/bin/chromium); neither is needed to build or read reports.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:48] or "figure"


def main(html: str, out_dir: str) -> int:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 800}, device_scale_factor=1)
        page.goto(Path(html).resolve().as_uri())
        page.wait_for_selector(".plotly-graph-div .main-svg")
        for i, fig in enumerate(page.query_selector_all(".plotly-graph-div")):
            title = fig.evaluate("el => (el.layout && el.layout.title && el.layout.title.text) || ''")
            check = fig.evaluate("el => (el.closest('.check') || {}).id || ''")
            name = slug(title) if title.isascii() else slug(check)      # a 中文 report: by its check
            path = out / f"{i:02d}_{name}.png"
            fig.screenshot(path=str(path))
            print(path)
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
