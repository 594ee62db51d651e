"""The 2-D playground page in Streamlit's AppTest: a fresh network at epoch 0, Step, Play and Pause, Reset, a changed
setting starting again, and the settings a student can get wrong."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from dlcore.config import ToyConfig
from tests.app_pages.apptest import opened, plain, rerun_until

PAGE = "app_pages/7_playground.py"


@pytest.fixture
def page():
    at = opened(PAGE)
    yield at
    ground = at.session_state["toy_playground"] if "toy_playground" in at.session_state else None
    if ground is not None:
        ground.close()


def epoch(at: AppTest) -> int:
    return int(next(m for m in at.metric if m.label == "Epoch").value.replace(",", ""))


def images(at: AppTest) -> dict[str, str]:
    """Each live picture's alt text -> its data URI (the hover overlays have none)."""
    return {alt: src for element in at.get("html")
            for alt, src in re.findall(r'<img alt="([^"]+)"[^>]*src="([^"]+)"', element.proto.body)}


def test_a_fresh_network_is_drawn_at_epoch_zero_with_every_picture(page):
    assert epoch(page) == 0
    assert set(images(page)) == {"the network's neurons and weights", "loss curves", "decision boundary"}
    assert [b.label for b in page.button][:3] == ["Play", "Step", "Reset"]
    assert page.expander[0].label == "Weights as numbers" and len(page.dataframe) == 3  # 2 hidden layers + output
    assert page.session_state["toy_playground"].config == ToyConfig() and not page.query_params  # the defaults


def test_step_trains_one_epoch_and_reset_starts_again(page):
    before = images(page)["decision boundary"]
    page.button(key="toy_step").click().run()
    assert epoch(page) == 1 and images(page)["decision boundary"] != before
    page.button(key="toy_reset").click().run()
    assert epoch(page) == 0 and images(page)["decision boundary"] == before  # the same seed: the same first weights


def test_play_trains_while_the_page_reruns_and_pause_holds_it(page):
    page.button(key="toy_play").click().run()
    assert page.button(key="toy_pause").label == "Pause" and page.button(key="toy_step").disabled
    rerun_until(page, lambda at: epoch(at) >= 3, timeout=60)
    page.button(key="toy_pause").click().run()
    held = epoch(page)
    assert page.button(key="toy_play").label == "Play" and held >= 3
    page.run()
    assert epoch(page) == held


def test_changing_a_setting_starts_a_fresh_network_and_lets_the_old_one_go(page):
    page.button(key="toy_step").click().run()
    old = page.session_state["toy_playground"]
    page.selectbox(key="toy_dataset").set_value("spiral").run()
    assert epoch(page) == 0 and page.session_state["toy_playground"] is not old
    assert page.session_state["toy_playground"].config.dataset == "spiral"
    old._thread.join(5)
    assert not old._thread.is_alive()


def test_the_network_widgets_shape_the_network(page):
    page.number_input(key="toy_layers").set_value(3).run()
    page.number_input(key="toy_units_2").set_value(8).run()
    assert page.session_state["toy_playground"].config.hidden == (4, 2, 8)
    assert any("4-2-8 tanh" in caption.value for caption in page.caption)
    page.number_input(key="toy_layers").set_value(0).run()
    assert page.session_state["toy_playground"].config.hidden == ()


def test_hovering_a_unit_shows_its_output_over_the_whole_square(page):
    """Issue 24: TF Playground shows a neuron's output on the big plot while it is hovered. Each tile of the network
    picture is a hover zone; the boundary carries each unit's picture, shown by a CSS rule only while its zone is
    hovered (2 inputs, 4 + 2 neurons)."""
    network = next(e.proto.body for e in page.get("html") if "the network's neurons" in e.proto.body)
    boundary = next(e.proto.body for e in page.get("html") if 'alt="decision boundary"' in e.proto.body)
    assert network.count('class="tp-unit ') == 8 and boundary.count('class="tp-over ') == 8
    assert ":has(.tp-unit-7:hover) .tp-over-7{display:block" in boundary and "display:none" in boundary


def stepper(page, name: str):
    """A + or − over the network: its key ends in the shape it acts from, so a replayed click cannot act twice."""
    return next(button for button in page.button if button.key.startswith(f"{name}_"))


def test_plus_and_minus_over_the_network_add_and_remove_layers_and_neurons(page):
    """Issue 24: TF Playground's + and − on the network diagram; each makes a fresh network of the new shape, and the
    Network popover's widgets say the same."""
    stepper(page, "toy_units_0_step_more").click().run()
    assert page.session_state["toy_playground"].config.hidden == (5, 2) and page.number_input(key="toy_units_0").value == 5
    stepper(page, "toy_layer_more").click().run()
    assert page.session_state["toy_playground"].config.hidden == (5, 2, 4)
    stepper(page, "toy_units_1_step_less").click().run()  # at one neuron, − is disabled
    assert page.session_state["toy_playground"].config.hidden == (5, 1, 4) and stepper(page, "toy_units_1_step_less").disabled
    for _ in range(3):
        stepper(page, "toy_layer_less").click().run()
    assert page.session_state["toy_playground"].config.hidden == () and stepper(page, "toy_layer_less").disabled
    assert page.query_params["hidden"] == ""  # the link keeps the shape


def test_no_input_feature_is_a_sentence_not_a_traceback(page):
    page.pills(key="toy_features").set_value([]).run()
    assert not page.exception and "at least one input feature" in page.error[0].value


def test_a_link_sets_up_the_playground_and_the_address_follows_the_settings():
    at = opened(PAGE, dataset="xor", hidden="8,8,2", features="x1,x2,x1x2", lr="0.03", noise="12", seed="7")
    config = at.session_state["toy_playground"].config
    assert (config.dataset, config.hidden, config.features, config.lr, config.seed) == (
        "xor", (8, 8, 2), ("x1", "x2", "x1x2"), 0.03, 7)
    assert config.noise == 10  # rounded to the slider's steps of 5
    at.selectbox(key="toy_activation").set_value("relu").run()
    assert at.query_params["activation"] == "relu" and at.query_params["dataset"] == "xor"
    at.session_state["toy_playground"].close()


@pytest.mark.parametrize("query, words", [
    ({"hidden": "9"}, "hidden[1] cannot be 9"), ({"lr": "nan"}, "lr cannot be nan"),
    ({"noise": "lots"}, "noise cannot be 'lots'"), ({"seed": "9" * 500}, "500 characters long"),
    ({"optimizer": "foo"}, "Unknown optimizer 'foo'"),
])
def test_a_link_that_cannot_be_used_is_said_so_and_the_defaults_stay(query, words):
    at = opened(PAGE, **query)
    assert "were not used" in at.warning[0].value and words in at.warning[0].value.replace("\\", "")
    assert at.session_state["toy_playground"].config.hidden == (4, 2)
    at.session_state["toy_playground"].close()


def test_a_refused_link_stays_said_until_the_settings_change():
    """A fresh server reruns the first page by itself a moment after it is drawn: a sentence shown only once
    was gone before the student could read it."""
    at = opened(PAGE, optimizer="foo")
    at.run()
    assert "Unknown optimizer 'foo'" in plain(at.warning[0].value)
    at.selectbox(key="toy_activation").set_value("relu").run()
    assert not at.warning
    at.session_state["toy_playground"].close()


def test_a_links_momentum_which_no_widget_offers_is_said_not_used():
    at = opened(PAGE, momentum="0.5", dataset="xor")
    assert "the link's momentum 0.5 was not used" in plain(at.warning[0].value)
    assert at.session_state["toy_playground"].config.dataset == "xor"  # the rest of the link is used
    at.session_state["toy_playground"].close()


def test_the_first_weights_are_a_training_setting_the_link_keeps(page):
    assert page.session_state["toy_playground"].config.init == "playground"  # TF Playground's, as its lessons need
    page.selectbox(key="toy_init").set_value("pytorch").run()
    assert page.session_state["toy_playground"].config.init == "pytorch" and page.query_params["init"] == "pytorch"
    linked = opened(PAGE, init="pytorch")
    assert linked.selectbox(key="toy_init").value == "pytorch"
    linked.session_state["toy_playground"].close()


def test_the_loss_is_tf_playgrounds_squared_error_on_one_output_unless_cross_entropy_is_chosen(page):
    ground = page.session_state["toy_playground"]
    assert ground.config.loss == "squared-error" and ground.latest().weights[-1].shape[0] == 1
    page.selectbox(key="toy_loss").set_value("cross-entropy").run()
    ground = page.session_state["toy_playground"]
    assert ground.config.loss == "cross-entropy" and ground.latest().weights[-1].shape[0] == 2
    assert page.query_params["loss"] == "cross-entropy" and any("· cross-entropy" in c.value for c in page.caption)
    linked = opened(PAGE, loss="cross-entropy")
    assert linked.selectbox(key="toy_loss").value == "cross-entropy"
    linked.session_state["toy_playground"].close()


def test_a_regression_dataset_trains_with_squared_error_and_shows_loss_not_accuracy(page):
    page.selectbox(key="toy_loss").set_value("cross-entropy").run()
    page.selectbox(key="toy_dataset").set_value("multi-gauss").run()
    ground = page.session_state["toy_playground"]
    assert ground.config.loss == "squared-error" and page.selectbox(key="toy_loss").disabled
    assert ground.points.train_y.dtype.kind == "f"
    page.button[1].click().run()  # Step
    assert epoch(page) == 1 and "Accuracy" not in [m.label for m in page.metric]
    assert any("coloured by its own value" in c.value for c in page.caption)
    page.selectbox(key="toy_dataset").set_value("circle").run()  # back to classes: the student's choice is back
    assert page.session_state["toy_playground"].config.loss == "cross-entropy"


def test_a_links_values_no_widget_offers_are_named_with_the_values_used():
    """Issue 23.3: lr=0.005 silently became 0.003."""
    at = opened(PAGE, lr="0.005", noise="12", dataset="xor")
    note = plain(at.warning[0].value)
    assert "lr 0.005 became 0.003" in note and "noise 12 became 10" in note
    assert at.session_state["toy_playground"].config.lr == 0.003
    at.session_state["toy_playground"].close()


def test_older_short_keys_are_read_and_keys_the_page_does_not_use_are_named():
    """Issue 23.3: `/playground?data=spiral` gave the circle."""
    at = opened(PAGE, data="spiral", opt="sgd", epochs_per_second="9", net="cnn")
    config = at.session_state["toy_playground"].config
    assert (config.dataset, config.optimizer) == ("spiral", "sgd")
    note = plain(at.warning[0].value)
    assert "does not use epochs_per_second=9, net=cnn" in note
    assert at.query_params["dataset"] == "spiral" and "data" not in at.query_params and "net" not in at.query_params
    at.session_state["toy_playground"].close()


def test_coming_back_to_the_playground_puts_its_setup_back_in_the_address(page):
    page.selectbox(key="toy_dataset").set_value("spiral").run()
    page.query_params.clear()  # what Streamlit's navigation leaves after a visit to another page
    page.run()
    assert page.query_params["dataset"] == "spiral"
