"""Deep Learning Playground: page setup and navigation; every page lives in app_pages/.

Not pages/: Streamlit treats a folder of that name as a legacy multipage app, and on a fresh server the first
visitor who opens a page by its address would get that page without this file's navigation and sidebar.
"""

import streamlit as st

from dlcore import DLCoreError
from ui import literal
from ui.classroom import identity_ui, opened_page, presenter_mode_ui, student_name_ui, teacher_ui
from ui.status import sidebar_status, warm_up_engine

st.set_page_config(page_title="Deep Learning Playground", page_icon=":material/neurology:", layout="wide")
identity_ui()  # first: the sooner a first visit reloads with its identity, the less of the page it redraws
warm_up_engine()

# The default page is served at / only, though it reserves its url_path: /home is a hidden page leading there.
home = st.Page("app_pages/0_home.py", title="Home", icon=":material/home:", url_path="index", default=True)


def home_by_its_name() -> None:
    """/home: the home page, with the address's settings such as ?present=1 ("Page not found" before)."""
    st.switch_page(home, query_params=st.query_params.to_dict())


pages = {
    "": [home],
    "Networks and how they learn": [
        st.Page("app_pages/1_activation_lab.py", title="Activation lab", icon=":material/show_chart:",
                url_path="activation_lab"),
        st.Page("app_pages/2_build_and_train.py", title="Build & train", icon=":material/model_training:",
                url_path="build_and_train"),
        st.Page("app_pages/3_draw_and_classify.py", title="Draw & classify", icon=":material/draw:",
                url_path="draw_and_classify"),
        st.Page("app_pages/4_inside_the_network.py", title="Inside the network", icon=":material/layers:",
                url_path="inside_the_network"),
        st.Page("app_pages/5_optimizer_race.py", title="Optimizer race", icon=":material/sports_score:",
                url_path="optimizer_race"),
        st.Page("app_pages/7_playground.py", title="2-D playground", icon=":material/scatter_plot:", url_path="playground"),
        st.Page("app_pages/8_gradient_descent.py", title="Gradient descent", icon=":material/landscape:",
                url_path="gradient_descent"),
    ],
    "Model families": [
        st.Page("app_pages/9_generative.py", title="Generative models", icon=":material/auto_awesome:",
                url_path="generative"),
        st.Page("app_pages/10_gan_lab.py", title="GAN lab", icon=":material/blur_on:", url_path="gan_lab"),
        st.Page("app_pages/11_sequences.py", title="Sequences", icon=":material/view_timeline:", url_path="sequences"),
        st.Page("app_pages/12_attention.py", title="Attention", icon=":material/hub:", url_path="attention"),
        st.Page("app_pages/13_transfer.py", title="Transfer learning", icon=":material/call_split:",
                url_path="transfer"),
    ],
    "Reinforcement": [
        st.Page("app_pages/14_reinforcement.py", title="Reinforcement learning", icon=":material/sports_esports:",
                url_path="reinforcement"),
    ],
    "The class": [
        st.Page("app_pages/6_run_board.py", title="Run board", icon=":material/leaderboard:", url_path="run_board"),
        st.Page(home_by_its_name, title="Home", url_path="home", visibility="hidden"),
    ],
}
page = st.navigation(pages, expanded=True)  # every page in view: collapsed, 12 pages hid the Run board
opened_page(page.url_path)
presenter_mode_ui()
student_name_ui()
teacher_ui()
sidebar_status()  # before the page, which may end early with st.stop()
try:
    page.run()
except DLCoreError as exc:  # a fault no page handles itself (a runs folder it cannot write): a sentence, not an error box
    st.error(literal(exc), icon=":material/error:")
