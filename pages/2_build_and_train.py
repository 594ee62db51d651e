import streamlit as st

st.title("2_build_and_train")
st.info("This page is being built.")
