"""The Activation lab in a real browser: what typing in its pickers does."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import wait_rendered

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_typing_a_name_and_enter_adds_that_activation_only(watched, app_server):
    """"ELU" is also inside SELU and (as a subsequence) Leaky ReLU; Enter must add ELU alone."""
    page, _ = watched
    page.goto(f"{app_server.url}/activation_lab")
    wait_rendered(page)
    picker = page.get_by_test_id("stMultiSelect").filter(has_text="Activation functions")
    picker.locator("input").click()
    page.keyboard.type("ELU")
    expect(page.get_by_role("option", name="ELU", exact=True)).to_be_visible()
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    expect(picker.locator("[data-tag]")).to_have_text(["ReLU", "Sigmoid", "GELU", "ELU"])
    wait_rendered(page)
    expect(page.locator(".st-key-lab-values .legendtext")).to_have_text(["ReLU", "Sigmoid", "GELU", "ELU"])
