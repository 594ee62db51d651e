"""GAN lab in Streamlit's AppTest: a fresh GAN at epoch 0 with its picture, Step, Play and Pause, D only and G only,
Reset, the display choices, links, and a changed setting starting again."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from dlcore.config import PointGanConfig
from tests.app_pages.apptest import opened, plain, rerun_until

PAGE = "app_pages/10_gan_lab.py"


def close(at: AppTest) -> None:
    if "gan_playground" in at.session_state:
        at.session_state["gan_playground"].close()


@pytest.fixture
def page():
    at = opened(PAGE)
    yield at
    close(at)


def epoch(at: AppTest) -> int:
    return int(next(m for m in at.metric if m.label == "Epoch").value.replace(",", ""))


def images(at: AppTest) -> dict[str, str]:
    return {alt: src for element in at.get("html")
            for alt, src in re.findall(r'<img alt="([^"]+)"[^>]*src="([^"]+)"', element.proto.body)}


def test_a_fresh_gan_is_drawn_at_epoch_zero(page):
    assert epoch(page) == 0 and next(m for m in page.metric if m.label == "D right on").value == "–"
    assert set(images(page)) == {"real points and the generator's samples", "losses", "divergence"}
    assert [b.label for b in page.button][:3] == ["Play", "Step", "Reset"]
    assert page.session_state["gan_playground"].config == PointGanConfig() and not page.query_params
    assert "Circle, orange points · G 2-16-16-2, D 2-16-16-1, ReLU · Adam 0.01, batch 50" in page.caption[1].value


def test_step_trains_an_epoch_and_reset_starts_again(page):
    before = images(page)["real points and the generator's samples"]
    page.button(key="gan_step").click().run()
    assert epoch(page) == 1 and images(page)["real points and the generator's samples"] != before
    page.button(key="gan_reset").click().run()
    assert epoch(page) == 0 and images(page)["real points and the generator's samples"] == before  # the same seed


def test_play_trains_while_the_page_reruns_and_pause_holds_it(page):
    page.button(key="gan_play").click().run()
    assert page.button(key="gan_pause").label == "Pause" and page.button(key="gan_step").disabled
    rerun_until(page, lambda at: epoch(at) >= 3, timeout=60)
    page.button(key="gan_pause").click().run()
    held = epoch(page)
    page.run()
    assert epoch(page) == held and page.button(key="gan_play").label == "Play"


def test_d_only_and_g_only_choose_what_trains(page):
    ground = page.session_state["gan_playground"]
    page.segmented_control(key="gan_train").set_value("discriminator").run()
    assert ground.stepping == ("discriminator",)
    page.button(key="gan_step").click().run()
    assert epoch(page) == 1
    page.segmented_control(key="gan_train").set_value("generator").run()
    assert ground.stepping == ("generator",)
    page.segmented_control(key="gan_train").set_value(None).run()  # unselected: both, as at first
    assert ground.stepping == ("discriminator", "generator")


def test_the_manifold_and_the_arrows_can_be_hidden(page):
    shown = images(page)["real points and the generator's samples"]
    page.pills(key="gan_show").set_value([]).run()
    plain_picture = images(page)["real points and the generator's samples"]
    assert plain_picture != shown and epoch(page) == 0


def test_a_changed_setting_starts_a_fresh_gan_and_the_address_follows(page):
    page.button(key="gan_step").click().run()
    old = page.session_state["gan_playground"]
    page.selectbox(key="gan_dataset").set_value("gauss").run()
    page.segmented_control(key="gan_colour").set_value("both").run()
    ground = page.session_state["gan_playground"]
    assert ground is not old and old.closed and epoch(page) == 0
    assert (ground.config.dataset, ground.config.colour) == ("gauss", "both")
    assert page.query_params["dataset"] == "gauss" and page.query_params["colour"] == "both"


def test_a_link_sets_up_the_gan_and_rounds_what_no_widget_offers():
    at = opened(PAGE, dataset="spiral", colour="blue", generator="8,8,8", discriminator="12", lr="0.025", noise="7")
    config = at.session_state["gan_playground"].config
    assert (config.dataset, config.colour, config.generator, config.discriminator) == ("spiral", "blue", (8, 8, 8), (12,))
    assert (config.lr, config.noise) == (0.03, 5)
    assert "lr 0.025 became 0.03" in plain(at.warning[0].value) and "noise 7 became 5" in plain(at.warning[0].value)
    close(at)


@pytest.mark.parametrize("query, words", [
    ({"generator": "99"}, "generator[1] cannot be 99"), ({"lr": "nan"}, "lr cannot be nan"),
    ({"colour": "<script>"}, "colour cannot be"), ({"seed": "9" * 500}, "500 characters long"),
])
def test_a_link_that_cannot_be_used_is_said_so_and_the_defaults_stay(query, words):
    at = opened(PAGE, **query)
    assert "were not used" in at.warning[0].value and words in plain(at.warning[0].value)
    assert at.session_state["gan_playground"].config == PointGanConfig()
    close(at)


def test_presenter_mode_keeps_the_settings_and_the_picture():
    at = opened(PAGE, present="1")
    assert [p.proto.popover.label for p in at.get("popover")] == ["Data", "Networks", "Training"]
    assert "real points and the generator's samples" in images(at) and not at.caption[0].value.startswith(":green")
    close(at)
