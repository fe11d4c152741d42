"""StormSeg: per-pixel damage maps from post-hurricane drone photos (placeholder home page)."""

import streamlit as st

st.set_page_config(page_title="StormSeg", layout="wide")
st.title("StormSeg")
st.write("Segmentation of post-hurricane drone photos into 25 Hurricane Harvey classes. The full app is on its way.")
