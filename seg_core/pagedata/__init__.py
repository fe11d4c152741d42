"""Plain data for the app's pages (no Streamlit): dataset analysis, galleries, run monitors, the model catalog."""
