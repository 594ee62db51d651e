import streamlit as st

st.title("1_activation_lab")
st.info("This page is being built.")
