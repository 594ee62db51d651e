import streamlit as st

st.title("Deep Learning Playground")
st.markdown(
    "Learn deep learning by doing it, with real PyTorch underneath. "
    "Plot activation functions and watch gradients vanish, build a network layer by layer and "
    "watch it learn MNIST live, then draw a digit and see your own model read it."
)
left, middle, right = st.columns(3)
with left:
    st.subheader("1. Activation lab")
    st.markdown("Plot ReLU, GELU, sigmoid and friends with their derivatives; measure vanishing gradients.")
    st.page_link("pages/1_activation_lab.py", label="Open the Activation lab", icon=":material/show_chart:")
with middle:
    st.subheader("2. Build & train")
    st.markdown("Stack layers, pick an optimizer, and watch loss and accuracy move in real time.")
    st.page_link("pages/2_build_and_train.py", label="Open Build & train", icon=":material/model_training:")
with right:
    st.subheader("3. Draw & classify")
    st.markdown("Draw a digit; your trained model reads it and shows what it looked at.")
    st.page_link("pages/3_draw_and_classify.py", label="Open Draw & classify", icon=":material/draw:")
