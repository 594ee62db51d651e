"""What one student types reaches the others and the projector as the text it is, never as Markdown or HTML.

Streamlit draws alerts, captions, headers and metric deltas as Markdown: a name such as ![x](http://host/p.png)
would put a picture (or a tracking pixel) on every screen in the room, :red[...] would recolour the page.
"""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest
import torch
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from dlcore import evaluate, export, models, runs
from dlcore.config import TrainConfig
from tests.e2e.harness import AppServer, new_page, screenshot, wait_rendered

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EVIL = "![pwn](http://127.0.0.1:9/p.png):red[x]"  # 40 characters: a name's limit
IMAGES = 'img[src*="p.png"]'


def _finished_run(store: runs.RunStore, student: str, message: str, status: str = "done") -> int:
    config = TrainConfig(model=models.preset("keras-mlp"))
    run_id = store.create(config, student)
    model = models.build(config.model)
    results = evaluate.evaluate(model, torch.randn(20, 1, 28, 28), torch.arange(20) % 10)
    checkpoint = runs.save_checkpoint(store.checkpoint_path(run_id), model, config)
    store.update(run_id, status=status, message=message, results=results, checkpoint=str(checkpoint))
    return run_id


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("student-text") / "home"
    store = runs.RunStore(home)
    done = _finished_run(store, EVIL, f"{export.IMPORT_NOTE} {EVIL}.safetensors.")
    failed = _finished_run(store, EVIL, f"Could not read {EVIL}.", status="failed")
    app = AppServer(home).start()
    yield app, done, failed
    app.stop()


@pytest.mark.parametrize("address, shot", [
    ("/run_board", "student-text-run-board"),
    ("/run_board?present=1", "student-text-leaderboard"),
    ("/build_and_train?run={failed}", "student-text-failed-run"),
    ("/build_and_train?net=" + quote(EVIL), "student-text-link-note"),
    ("/draw_and_classify", "student-text-model-picker"),
])
def test_names_messages_and_link_values_are_shown_as_typed(browser, server, address, shot):
    app, done, failed = server
    page, watch = new_page(browser, app.url)
    try:
        page.goto(app.url + address.format(failed=failed))
        wait_rendered(page, timeout=120_000)
        main = page.get_by_test_id("stMain")

        def value(box) -> str:
            try:
                return box.input_value(timeout=2_000)
            except PlaywrightTimeout:  # a rerun redrew the page between listing the boxes and reading this one
                return ""

        def shown() -> str:
            text = main.inner_text() + " ".join(value(box) for box in main.get_by_role("combobox").all())
            return " ".join(text.replace("\u2060", "").split())  # the word joiner that keeps an address from linking

        deadline = time.monotonic() + 30
        while EVIL not in shown():  # the name, the message or the link's value, as typed
            assert time.monotonic() < deadline, shown()
            time.sleep(0.5)
        assert page.locator(IMAGES).count() == 0
        assert main.locator("a[href*='127.0.0.1:9']").count() == 0
        screenshot(page, shot)
        problems = watch.problems()
    finally:
        page.context.close()
    assert not problems, problems
