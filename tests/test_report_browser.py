"""The report in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright.

``make setup`` installs the browser; the test runs in the default ``make test``.
"""

from __future__ import annotations

import os
import shutil

import pytest

from _report_fixtures import (
    EVIL,
    analysis_document,
    evaluate_document,
    replay_document,
    small_store,
)
from forgetmap.report import write_report

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("FORGETMAP_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _browser_or_skip():
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the Python package playwright (pip install -e '.[dev]')")
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        missing.append("the chromium browser (apt-get install chromium chromium-driver)")
    if missing:
        message = "browser test needs " + " and ".join(missing) + "; `make setup` installs them"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def report_page(tmp_path_factory):
    """The report of a small store, open in headless Chromium; yields (page, requests, errors)."""
    _browser_or_skip()
    from playwright.sync_api import sync_playwright

    root = tmp_path_factory.mktemp("report")
    store = small_store(root / "run")
    store.save_json("analysis", analysis_document(store))
    store.save_json("evaluate", evaluate_document())
    store.save_json("replay", replay_document())
    path = write_report(store, root / "report.html")
    requests: list[str] = []
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium"),
            args=LAUNCH_ARGS,
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("request", lambda request: requests.append(request.url))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(path.as_uri())
        page.wait_for_function("window.forgetmapReport && window.forgetmapReport.ready")
        yield page, store, requests, errors, root
        browser.close()


def test_page_runs_without_errors_and_requests_nothing(report_page):
    _page, _store, requests, errors, root = report_page
    assert errors == []
    assert requests == [(root / "report.html").as_uri()]


def test_heatmap_renders_at_non_zero_size(report_page):
    page = report_page[0]
    box = page.locator("#heatmap").bounding_box()
    assert box["width"] > 300 and box["height"] > 100
    # Something was drawn: the canvas is not blank.
    coloured = page.evaluate(
        """() => { const c = document.getElementById('heatmap');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0) n++;
                   return n / (d.length / 4); }"""
    )
    assert coloured > 0.5


def test_hovering_a_cell_shows_its_example_text(report_page):
    page, store = report_page[0], report_page[1]
    page.select_option("#column-order", "original")
    page.select_option("#row-order", "original")
    page.locator("#heatmap").scroll_into_view_if_needed()
    for column in (1, 5):
        centre = page.evaluate(f"window.forgetmapReport.cellCenter(2, {column})")
        page.mouse.move(centre["x"], centre["y"])
        tooltip = page.locator("#tooltip")
        assert tooltip.is_visible()
        text = tooltip.text_content()
        assert f"ex{column}" in text and store.task_ids[2] in text
        assert store.examples()["text"].iloc[column] in text
    page.mouse.move(1, 1)
    assert not page.locator("#tooltip").is_visible()


def test_malicious_text_is_shown_but_never_runs(report_page):
    page = report_page[0]
    page.select_option("#column-order", "original")
    page.locator("#heatmap").scroll_into_view_if_needed()
    centre = page.evaluate("window.forgetmapReport.cellCenter(0, 1)")
    page.mouse.move(centre["x"], centre["y"])
    assert EVIL in page.locator("#tooltip").text_content()
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("#tooltip img, #tooltip script, main b").count() == 0


def test_changing_the_ordering_changes_the_row_order(report_page):
    page = report_page[0]
    page.select_option("#row-order", "original")
    original = page.evaluate("window.forgetmapReport.rowOrder()")
    page.select_option("#row-order", "mean")
    by_mean = page.evaluate("window.forgetmapReport.rowOrder()")
    assert sorted(by_mean) == sorted(original) and by_mean != original
    assert page.get_attribute("#heatmap", "data-row-order") == __import__("json").dumps(
        by_mean, separators=(",", ":")
    )
    page.select_option("#row-order", "svd1")
    assert page.evaluate("window.forgetmapReport.rowOrder()") != original


def test_zoom_and_pan_change_the_view(report_page):
    page = report_page[0]
    page.locator("#heatmap").scroll_into_view_if_needed()
    before = page.evaluate("window.forgetmapReport.cellCenter(0, 1)")
    box = page.locator("#heatmap").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -600)
    zoomed = page.evaluate("window.forgetmapReport.cellCenter(0, 1)")
    assert zoomed != before
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 80, box["y"] + box["height"] / 2, steps=4)
    page.mouse.up()
    panned = page.evaluate("window.forgetmapReport.cellCenter(0, 1)")
    assert panned["x"] != zoomed["x"]
    page.dblclick("#heatmap")
    assert page.evaluate("window.forgetmapReport.cellCenter(0, 1)") == before


def test_sections_show_the_stage_results(report_page):
    page = report_page[0]
    assert "0.33" in page.locator("#fit-table").text_content()
    assert "<b>chat</b>" in page.locator("#groups").text_content()
    assert "lowrank" in page.locator("#evaluate").text_content()
    assert page.locator("#evaluate canvas").count() == 1
    assert "predicted" in page.locator("#replay").text_content()
    assert "tiny-random" in page.locator("#run").text_content()
    assert page.locator("#spectrum svg").count() == 1


def test_screenshot(report_page):
    page, root = report_page[0], report_page[4]
    page.select_option("#row-order", "mean")
    page.screenshot(path=str(root / "report.png"), full_page=True)
    assert (root / "report.png").stat().st_size > 10_000
