"""Fixtures for the browser tests: one app server and one Chromium for the session, a watched page per test."""

from __future__ import annotations

import re

import pytest

from tests.e2e.harness import CHROMIUM_ARGS, AppServer, new_page, require_chromium, screenshot, wait_rendered


def pytest_collection_modifyitems(items):
    """Tests that need digit_model go first, whatever is selected: it trains the starter model the way a first-time
    user gets one, which needs a server where no run has finished yet (the sort is stable, so nothing else moves)."""
    items.sort(key=lambda item: "digit_model" not in getattr(item, "fixturenames", ()))


@pytest.fixture(scope="session")
def app_server(tmp_path_factory, browser):
    """`streamlit run app.py` on a free port with a fresh DLCORE_HOME, shared by the tests that need no restart.

    A first visit to the home page starts the engine's imports, so later tests time pages, not torch's import;
    what a first visitor sees on a fresh server is tested on its own (test_faults.py).
    """
    server = AppServer(tmp_path_factory.mktemp("e2e") / "home").start()
    page, _ = new_page(browser, server.url)
    page.goto(server.url)
    wait_rendered(page, timeout=120_000)
    page.context.close()
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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so a fixture can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def watched(request, browser, app_server):
    """A fresh session's page on the shared server; the test fails if any browser error or exception box showed.

    A failed test leaves a screenshot of what the browser showed (tests/e2e/screenshots/FAILED-<test>.png).
    """
    page, watch = new_page(browser, app_server.url)
    yield page, watch
    if getattr(request.node, "report_call", None) is None or request.node.report_call.failed:
        screenshot(page, f"FAILED-{request.node.name}")
    problems = watch.problems()
    page.context.close()
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="session")
def digit_model(browser, app_server) -> None:
    """A model that reads handwriting, trained the way a first-time user gets one: the Draw & classify button."""
    page, watch = new_page(browser, app_server.url)
    page.goto(f"{app_server.url}/draw_and_classify")
    wait_rendered(page)
    screenshot(page, "draw-without-model")
    page.get_by_role("button", name=re.compile(r"train a (starter|default) model", re.I)).click()
    page.get_by_test_id("stProgress").first.wait_for()  # it trains in the background, with a progress bar
    page.get_by_test_id("stSelectbox").filter(has_text="Model").wait_for(timeout=900_000)
    problems = watch.problems()
    page.context.close()
    assert not problems, "\n".join(problems)
