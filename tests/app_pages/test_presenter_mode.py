"""Presenter mode: ?present=1 turns it on for the whole app, the sidebar toggle turns it off, page changes keep it."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.app_pages.apptest import opened

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def presenter_page():
    """What app.py does for every page: the toggle, then a page that asks whether to present."""
    import streamlit as st

    from ui.classroom import presenter_mode_ui, settings_container

    presenter_mode_ui()
    with settings_container("demo"):
        st.slider("A setting", 0, 10, 5)
    st.metric("Accuracy", "97.1%")


def presenter_css(at: AppTest) -> bool:
    return any("st-key-settings_" in element.proto.body for element in at.get("html"))


def page(**query) -> AppTest:
    return opened(presenter_page, timeout=30, **query)


def test_the_app_opens_in_presenter_mode_from_a_link():
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["present"] = "1"
    at.run()
    assert not at.exception, at.exception
    assert at.toggle(key="presenting").value is True and presenter_css(at)


def test_off_by_default():
    at = page()
    assert at.toggle(key="presenting").value is False and not presenter_css(at) and "present" not in at.query_params


def test_the_toggle_turns_it_off_and_on_and_the_url_follows():
    at = page(present="1")
    assert at.toggle(key="presenting").value is True and presenter_css(at)
    at.toggle(key="presenting").set_value(False).run()
    assert not presenter_css(at) and "present" not in at.query_params
    at.run()
    assert at.toggle(key="presenting").value is False
    at.toggle(key="presenting").set_value(True).run()
    assert presenter_css(at) and at.query_params["present"] == "1"


def test_a_page_change_that_drops_the_query_keeps_it_on():
    at = page(present="1")
    at.query_params.clear()
    at.run()
    assert at.toggle(key="presenting").value is True and presenter_css(at) and at.query_params["present"] == "1"


def test_present_0_in_a_link_turns_it_off():
    at = page(present="1")
    at.query_params["present"] = "0"
    at.run()
    assert at.toggle(key="presenting").value is False and not presenter_css(at)
