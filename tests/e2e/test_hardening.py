"""The classroom settings in .streamlit/config.toml take effect: no error details in the browser, capped uploads, XSRF.

(The toolbar's viewer mode is checked in test_pages.py, on the app itself.)
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.flows import open_draw, picture_upload
from tests.e2e.harness import EXCEPTION, AppServer, new_page, screenshot, wait_rendered

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CAP_MB = 20  # server.maxUploadSize


def test_an_uncaught_error_shows_students_no_details_and_the_log_keeps_them(browser, tmp_path):
    server = AppServer(tmp_path / "home", script="tests/e2e/error_app.py").start()
    page, _ = new_page(browser, server.url)
    try:
        page.goto(server.url)
        page.wait_for_selector(EXCEPTION)
        page.wait_for_selector('[data-test-script-state="notRunning"]', state="attached")
        shown = page.locator(EXCEPTION).inner_text()
        screenshot(page, "hardening-uncaught-error")
    finally:
        page.context.close()
        server.stop()
    for detail in ("secret-detail-7f3a", "hunter2", "RuntimeError", "Traceback", "error_app.py"):
        assert detail not in shown, shown
    log = server.log()
    assert "secret-detail-7f3a" in log and "Traceback" in log and "error_app.py" in log


def _upload_url(page, name: str, data: bytes) -> str:
    """Upload a file the way the page does and return the endpoint the browser used for it."""
    with page.expect_request(lambda r: "/_stcore/upload_file/" in r.url and r.method == "PUT") as request:
        picture_upload(page).get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
            {"name": name, "mimeType": "image/png", "buffer": data})
    return request.value.url


def test_uploads_are_capped_and_need_the_xsrf_token(browser, app_server, digit_model):
    page, watch = new_page(browser, app_server.url)
    try:
        open_draw(page, app_server.url)
        page.get_by_test_id("stRadio").get_by_text("Upload", exact=True).click()
        picture_upload(page).get_by_test_id("stFileUploaderDropzoneInput").wait_for(state="attached")
        expect(picture_upload(page).get_by_test_id("stFileUploaderDropzone")).to_contain_text(f"{CAP_MB}MB per file")

        over = b"\0" * ((CAP_MB + 1) * 2**20)
        picture_upload(page).get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
            {"name": "scan.png", "mimeType": "image/png", "buffer": over})
        expect(picture_upload(page)).to_contain_text(re.compile(rf"File must be {CAP_MB}(\.0)? ?MB or smaller"))

        url = _upload_url(page, "small.png", b"not really a picture")
        wait_rendered(page)
        token = next(c["value"] for c in page.context.cookies() if c["name"] == "_streamlit_xsrf")
        other = url.rsplit("/", 1)[0] + "/another-file"

        def put(data: bytes, headers: dict[str, str]) -> int:
            return page.request.put(other, headers=headers, fail_on_status_code=False, multipart={
                "file": {"name": "x.png", "mimeType": "image/png", "buffer": data}}).status

        assert put(b"tiny", {}) == 403  # same cookie, no token: the XSRF check refuses it
        assert put(over, {"X-Xsrftoken": token}) == 413  # the server enforces the cap, not only the page
        assert put(b"tiny", {"X-Xsrftoken": token}) in (200, 204)  # the token alone was what the first one lacked
        problems = watch.problems()
    finally:
        page.context.close()
    assert not problems, problems
