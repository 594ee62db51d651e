"""Deep Learning Playground: page setup and navigation; every page lives in pages/."""

import streamlit as st

import ui

st.set_page_config(page_title="Deep Learning Playground", page_icon=":material/neurology:", layout="wide")
ui.warm_up_engine()

pages = [
    st.Page("pages/0_home.py", title="Home", icon=":material/home:", url_path="home", default=True),
    st.Page("pages/1_activation_lab.py", title="Activation lab", icon=":material/show_chart:", url_path="activations"),
    st.Page("pages/2_build_and_train.py", title="Build & train", icon=":material/model_training:", url_path="train"),
    st.Page("pages/3_draw_and_classify.py", title="Draw & classify", icon=":material/draw:", url_path="draw"),
]
st.navigation(pages).run()
ui.sidebar_status()
