"""Faults on a server of its own: a first visitor by URL, two runs finishing together, and a SIGKILL mid-run.

The tests run in file order on one server (DLCORE_MAX_JOBS=2), as the first one needs the server fresh and the
kill needs finished runs to lose.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import expect

from dlcore.runs import RunStore, load_checkpoint
from tests.e2e.flows import FINISHED, open_train, set_epochs, start_run
from tests.e2e.harness import ALERT, AppServer, new_page, screenshot, wait_rendered

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def fault_server(tmp_path_factory):
    server = AppServer(tmp_path_factory.mktemp("faults") / "home", env={"DLCORE_MAX_JOBS": "2"}).start()
    yield server
    server.stop()


class Pages:
    """Watched pages on the fault server; each must end free of browser errors unless the test discards it."""

    def __init__(self, browser, url: str):
        self.browser, self.url, self.opened = browser, url, []

    def open(self):
        page, watch = new_page(self.browser, self.url)
        self.opened.append((page, watch))
        return page

    def discard(self, page) -> None:
        """Close a page whose errors are expected, such as one whose server was killed under it."""
        self.opened = [(p, w) for p, w in self.opened if p is not page]
        page.context.close()

    def close(self) -> list[str]:
        problems = [problem for _, watch in self.opened for problem in watch.problems()]
        for page, _ in self.opened:
            page.context.close()
        return problems


@pytest.fixture
def pages(browser, fault_server):
    opened = Pages(browser, fault_server.url)
    yield opened
    problems = opened.close()
    assert not problems, "\n".join(problems)


def _store(server: AppServer) -> RunStore:
    return RunStore(server.home)


def test_first_visitor_opening_a_page_by_its_url_sees_only_that_page(browser, fault_server):
    """The very first session of a fresh server, straight to a page's URL: that page, with no error over it."""
    page, watch = new_page(browser, fault_server.url)
    try:
        page.goto(f"{fault_server.url}/build_and_train")
        wait_rendered(page, timeout=120_000)
        expect(page.get_by_role("heading", level=1).first).to_have_text("Build & train")
        nav = page.locator('[data-testid="stSidebarNav"] a')  # app.py's navigation, not one made from a folder
        titles = ["Home", "Activation lab", "Build & train", "Draw & classify", "Inside the network", "Optimizer race",
                  "2-D playground", "Gradient descent", "Generative models", "GAN lab", "Sequences", "Attention",
                  "Transfer learning", "Reinforcement learning", "Run board"]
        expect(nav).to_have_text([re.compile(f"{re.escape(title)}$") for title in titles])  # after each icon's name
        expect(page.get_by_test_id("stSidebar")).to_contain_text("Presenter mode")
        problems = page.get_by_role("dialog").all_inner_texts() + watch.problems()
    finally:
        page.context.close()
    assert not problems, problems


def test_two_runs_finishing_together_both_save(pages, fault_server):
    first = pages.open()
    second = pages.open()
    for page in (first, second):
        open_train(page, fault_server.url)
        set_epochs(page, 4)
    ids = [start_run(first), start_run(second)]
    for page in (first, second):
        expect(page.locator(ALERT).filter(has_text=FINISHED)).to_be_visible(timeout=600_000)
    screenshot(second, "faults-two-runs-saved")

    runs = [_store(fault_server).get(run_id) for run_id in ids]
    assert [run.status for run in runs] == ["done", "done"]
    assert runs[1].created < runs[0].updated, "the second run started only after the first had finished"
    for run in runs:
        model, config = load_checkpoint(run.checkpoint)
        assert config == run.config and run.results.accuracy > 0.8


def test_server_killed_mid_run_leaves_it_interrupted_and_loses_nothing_else(pages, fault_server):
    finished_before = {run.id: run for run in _store(fault_server).list() if run.status == "done"}
    assert len(finished_before) >= 2

    page = pages.open()
    open_train(page, fault_server.url)
    set_epochs(page, 100)
    run_id = start_run(page)
    expect(page.get_by_test_id("stProgress")).to_contain_text("samples/s", timeout=60_000)
    fault_server.kill()
    pages.discard(page)  # its lost connection is the point of this test, not a browser error to report

    fault_server.start()
    fresh = pages.open()
    fresh.goto(fault_server.url)  # home first: a fresh server's first visit by URL is tested above
    wait_rendered(fresh, timeout=120_000)
    open_train(fresh, fault_server.url, query=f"?run={run_id}")
    message = fresh.locator(ALERT).filter(has_text=f"Run #{run_id} interrupted")
    expect(message).to_be_visible()
    assert "start it again" in message.inner_text()
    screenshot(fresh, "faults-interrupted-run")

    with sqlite3.connect(Path(fault_server.home) / "runs.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    after = {run.id: run for run in _store(fault_server).list()}
    assert after[run_id].status == "interrupted"
    for old_id, old in finished_before.items():
        assert after[old_id].status == "done" and after[old_id].results == old.results
        assert Path(after[old_id].checkpoint).is_file()
        load_checkpoint(after[old_id].checkpoint)
