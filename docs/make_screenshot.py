"""Screenshot of a report page for the README: ``python docs/make_screenshot.py REPORT OUT``.

Opens the page in headless Chromium (Debian's ``chromium``, driven by Playwright; `make setup`
installs both), orders tasks and examples by mean forgetting, hovers one cell so the tooltip
shows, and saves the heatmap section. ``make screenshot`` runs it on the demo store's report.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def main(report: Path, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000}, device_scale_factor=1)
        page.goto(report.resolve().as_uri())
        page.wait_for_function("window.forgetmapReport && window.forgetmapReport.ready")
        page.select_option("#row-order", "mean")
        page.select_option("#column-order", "mean")
        section = page.locator("#heatmap-section")
        section.scroll_into_view_if_needed()
        centre = page.evaluate("window.forgetmapReport.cellCenter(3, 12)")
        page.mouse.move(centre["x"], centre["y"])
        box = section.bounding_box()
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(
            path=str(out),
            clip={"x": 0, "y": box["y"] - 8, "width": 1280, "height": box["height"] + 16},
        )
        browser.close()
    print(out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python docs/make_screenshot.py REPORT.html OUT.png")
    main(Path(sys.argv[1]), Path(sys.argv[2]))
