"""Fixtures for the browser tests: one app server and one Chromium for the session, a watched page per test."""

from __future__ import annotations

import pytest

from tests.e2e.harness import CHROMIUM_ARGS, AppServer, new_page, require_chromium


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """`streamlit run app.py` on a free port with a fresh DLCORE_HOME, shared by the tests that need no restart."""
    server = AppServer(tmp_path_factory.mktemp("e2e") / "home").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium through Playwright; a missing browser fails the tests loudly instead of skipping them."""
    from playwright.sync_api import sync_playwright

    try:
        executable = require_chromium()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def watched(browser, app_server):
    """A fresh session's page on the shared server; the test fails if any browser error or exception box showed."""
    page, watch = new_page(browser, app_server.url)
    yield page, watch
    problems = watch.problems()
    page.context.close()
    assert not problems, "\n".join(problems)
