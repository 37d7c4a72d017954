"""The page in a real headless Chromium (Debian's ``chromium`` driven by PyPI ``playwright``).

Needs ``apt-get install chromium`` and ``pip install playwright`` (no ``playwright
install``: the system browser is used). Skips with the reason when either is missing.
Set ``MLRSIR_SCREENSHOT=1`` to write ``docs/screenshot.png`` after a successful run (of the
generated archive, or of a real index given as ``MLRSIR_SCREENSHOT_INDEX=path/to/index``,
served with the encoder of its run directory).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("MLRSIR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO_ROOT = Path(__file__).resolve().parents[2]


def _require_browser():
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set MLRSIR_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the Python package 'playwright' is not installed (pip install playwright)")
    return sync_playwright


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(app):
    """Run ``app`` with uvicorn on a free 127.0.0.1 port in a thread; yields its base URL."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def browser_page(base_url, width=1360, height=900):
    """A Chromium page on ``base_url``; fails the test on JavaScript errors or external fetches."""
    sync_playwright = _require_browser()
    with sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        except Exception as exc:  # a broken browser install is an environment problem
            pytest.skip(f"Chromium at {CHROMIUM} could not be launched: {exc}")
        context = browser.new_context(viewport={"width": width, "height": height})
        external = []
        context.route(
            "**/*",
            lambda route: (
                (external.append(route.request.url), route.abort())
                if not route.request.url.startswith((base_url, "data:", "blob:"))
                else route.continue_()
            ),
        )
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(base_url + "/")
        try:
            yield page
        finally:
            browser.close()
        assert errors == [], f"JavaScript errors: {errors}"
        assert external == [], f"the page tried to fetch external resources: {external}"


def wait_for_images(page):
    page.wait_for_function(
        "() => [...document.querySelectorAll('#grid img, #attention-img, #query-img')]"
        ".every(i => i.hidden || (i.complete && i.naturalWidth > 0))"
    )


@pytest.fixture(scope="module")
def page(app):
    _require_browser()
    with serving(app) as url, browser_page(url) as page:
        yield page


def test_page_loads_with_status_labels_and_empty_state(page, archive):
    page.wait_for_function("() => document.getElementById('status').textContent.includes('images')")
    assert f"{len(archive.paths)} images" in page.text_content("#status")
    assert "16-bit" in page.text_content("#status")
    page.wait_for_selector("#label-filter .chip")
    assert page.locator("#label-filter .chip").count() == 5
    assert page.is_visible("#empty") and "Start with a query" in page.text_content("#empty")
    assert page.locator("#grid .result").count() == 0


def test_random_query_shows_grid_attention_and_precision(page, archive):
    page.click("#random-btn")
    page.wait_for_selector("#grid .result")
    assert page.locator("#grid .result").count() == len(archive.paths) - 1  # everything but the query
    page.wait_for_function(
        "() => document.getElementById('attention-img').complete && "
        "document.getElementById('attention-img').naturalWidth > 0"
    )
    # the attention map is its own request, fetched after the results are shown
    assert page.get_attribute("#attention-img", "src").startswith("blob:")
    assert page.is_visible("#query-card") and not page.is_visible("#empty")
    assert "precision" in page.text_content("#stats")
    # distances shown in the grid are non-decreasing
    distances = [int(t.split("=")[1]) for t in page.locator("#grid .dist").all_text_contents()]
    assert distances == sorted(distances)
    # thumbnails actually loaded
    page.wait_for_function(
        "() => [...document.querySelectorAll('#grid img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    # labels shared with the query are highlighted
    query_labels = set(page.locator("#query-labels .chip").all_text_contents())
    for chip in page.locator("#grid .chip").all():
        assert ("shared" in (chip.get_attribute("class") or "")) == (chip.text_content() in query_labels)


def test_radius_zero_and_filter_give_empty_state(page):
    page.fill("#radius-input", "0")
    page.locator("#label-filter .chip", has_text="buildings").click()
    page.locator("#label-filter .chip", has_text="sand").click()
    page.wait_for_selector("#empty:not([hidden])")
    assert "No results within radius 0" in page.text_content("#empty")
    page.click("#clear-filter")
    page.fill("#radius-input", "")
    page.dispatch_event("#radius-input", "change")
    page.wait_for_selector("#grid .result")


def test_upload_query_runs(page, archive):
    page.set_input_files("#file-input", str(archive.paths[7]))
    page.wait_for_function("() => document.getElementById('query-name').textContent.includes('tile07.png')")
    page.wait_for_selector("#grid .result")
    first = page.locator("#grid .result").first
    assert first.locator(".dist").text_content().strip() == "d = 0"
    assert "tile07.png" in first.locator(".result-name").text_content()
    page.wait_for_function(
        "() => document.getElementById('attention-img').complete && "
        "document.getElementById('attention-img').naturalWidth > 0"
    )
    assert page.get_attribute("#attention-img", "src").startswith("blob:")  # POST /api/attention
    assert "precision" not in page.text_content("#stats")  # an upload has no labels


def test_clicking_a_result_searches_with_it(page):
    target = page.locator("#grid .result").nth(2)
    name = target.locator(".result-name").text_content()
    target.locator(".thumb").click()
    page.wait_for_function(f"() => document.getElementById('query-name').textContent.startsWith({name!r})")
    page.wait_for_selector("#grid .result")


def test_invalid_upload_shows_server_message(page, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("this is not an image\n" * 10)
    page.set_input_files("#file-input", str(bad))
    page.wait_for_selector("#error:not([hidden])")
    message = page.text_content("#error-text")
    assert message.startswith("notes.txt:") and "image" in message
    page.click("#error-close")
    assert not page.is_visible("#error")


def test_screenshot(page, archive):
    """Leaves the page showing a labelled query; writes docs/screenshot.png when asked to."""
    page.click("#random-btn")
    page.wait_for_selector("#grid .result")
    wait_for_images(page)
    assert page.locator("#grid .result").count() == len(archive.paths) - 1
    if os.environ.get("MLRSIR_SCREENSHOT") and not os.environ.get("MLRSIR_SCREENSHOT_INDEX"):
        target = REPO_ROOT / "docs" / "screenshot.png"
        page.screenshot(path=str(target), full_page=True)


def test_screenshot_of_a_real_index():
    """Only with MLRSIR_SCREENSHOT_INDEX: serve a real index and model, query a random image."""
    index_path = os.environ.get("MLRSIR_SCREENSHOT_INDEX")
    if not index_path:
        pytest.skip("set MLRSIR_SCREENSHOT_INDEX=path/to/index to check (and screenshot) a real index")
    _require_browser()
    from mlrsir.web.app import create_app

    with serving(create_app(index_path)) as url, browser_page(url) as page:
        page.wait_for_selector("#label-filter .chip, #label-filter .hint")
        page.click("#random-btn")
        page.wait_for_selector("#grid .result", timeout=60_000)
        wait_for_images(page)
        page.wait_for_function("() => document.getElementById('attention-img').naturalWidth > 0")
        assert page.get_attribute("#attention-img", "src").startswith("blob:")
        if os.environ.get("MLRSIR_SCREENSHOT"):
            page.screenshot(path=str(REPO_ROOT / "docs" / "screenshot.png"), full_page=True)
