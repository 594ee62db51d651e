import streamlit as st

st.title("3_draw_and_classify")
st.info("This page is being built.")
