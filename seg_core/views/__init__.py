"""What pages show, as plain data: key figures, galleries, run monitors, maps, downloads (no Streamlit)."""
