"""Streamlit-side helpers shared by the pages: error display, cached models, charts.

The engine (`seg_core`) never imports streamlit; this package is the only place that does
besides `app.py` and `app_pages/`.
"""
