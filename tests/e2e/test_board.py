"""The run board in a real browser: what an import leaves on the page survives the board's own refresh."""

from __future__ import annotations

import re

import pytest
import torch
from playwright.sync_api import expect

from dlcore import TrainConfig, models
from dlcore.runs import save_checkpoint
from tests.e2e.harness import ALERT, screenshot, wait_rendered

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
BOARD_POLL_MS = 3_000  # app_pages/6_run_board.py's CHANGE_POLL_SECONDS


def test_an_imports_message_stays_through_the_boards_refresh_until_dismissed(watched, app_server, tmp_path):
    """Issue 14.5: 'Imported as run #N' vanished a moment later, when the board redrew for the new run."""
    page, _ = watched
    config = TrainConfig(dataset="mnist-sample", model=models.preset("keras-mlp"), epochs=1)
    torch.manual_seed(0)
    weights = save_checkpoint(tmp_path / "from-home.safetensors", models.build(config.model), config)
    page.goto(f"{app_server.url}/run_board")
    wait_rendered(page)
    page.get_by_text("Import weights trained elsewhere").click()
    uploader = page.get_by_test_id("stFileUploader").filter(has_text="Weights: a .safetensors file")
    uploader.get_by_test_id("stFileUploaderDropzoneInput").first.set_input_files(str(weights))
    page.get_by_role("button", name="Import").click()
    notice = page.locator(ALERT).filter(has_text=re.compile(r"Imported as run #\d+"))
    expect(notice).to_be_visible(timeout=120_000)
    page.wait_for_timeout(2 * BOARD_POLL_MS)  # the board has found the new run and redrawn itself
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
    expect(notice).to_be_visible()
    screenshot(page, "board-imported")
    page.get_by_role("button", name="Dismiss").click()
    expect(notice).to_have_count(0)
