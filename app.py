"""Deep Learning Playground: page setup and navigation; every page lives in pages/."""

import streamlit as st

import ui

st.set_page_config(page_title="Deep Learning Playground", page_icon=":material/neurology:", layout="wide")
ui.warm_up_engine()

# Each url_path is the name Streamlit itself derives from the file name, so a fresh server's very first visitor
# (whose session Streamlit starts from the pages/ folder, before st.navigation has run) lands on the same page.
pages = [
    st.Page("pages/0_home.py", title="Home", icon=":material/home:", url_path="home", default=True),
    st.Page("pages/1_activation_lab.py", title="Activation lab", icon=":material/show_chart:", url_path="activation_lab"),
    st.Page("pages/2_build_and_train.py", title="Build & train", icon=":material/model_training:",
            url_path="build_and_train"),
    st.Page("pages/3_draw_and_classify.py", title="Draw & classify", icon=":material/draw:", url_path="draw_and_classify"),
    st.Page("pages/4_optimizer_race.py", title="Optimizer race", icon=":material/sports_score:", url_path="optimizer_race"),
    st.Page("pages/5_run_board.py", title="Run board", icon=":material/leaderboard:", url_path="run_board"),
]
page = st.navigation(pages)
ui.presenter_mode_ui()
page.run()
ui.sidebar_status()
