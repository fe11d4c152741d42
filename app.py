"""StormSeg: per-pixel damage maps from post-hurricane drone photos.

streamlit run app.py
"""

import logging

import streamlit as st

from seg_core.training import queue as run_queue
from ui import auth, streamlit_fixes

streamlit_fixes.keep_upload_replies()  # photos chosen while the page reruns are not lost (see there)

st.set_page_config(page_title="StormSeg", page_icon="🌀", layout="wide")
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
# Sign-in first (team mode), or the refusal to serve an open network: see ui/auth.py.
actor = auth.current_actor()
auth.sidebar(actor)

try:  # a queued run whose predecessor crashed starts here at the latest; never blocks the page
    run_queue.dispatch()
except Exception:  # noqa: BLE001
    logging.getLogger("stormseg.ui").exception("dispatching the training queue failed")

# The page files live in app_pages/, not pages/: with a pages/ folder, Streamlit's legacy
# multipage mode can answer the first deep link (e.g. /train) itself, running the page without
# this entry point (no page config, no queue dispatch, the old sidebar). See streamlit#10276.
SECTIONS = {
    "Analyse": [
        st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("app_pages/segment.py", title="Segment", icon=":material/satellite_alt:"),
        st.Page("app_pages/map.py", title="Map", icon=":material/map:"),
    ],
    "Train": [
        st.Page("app_pages/data.py", title="Data", icon=":material/folder_open:"),
        st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("app_pages/runs.py", title="Runs", icon=":material/monitoring:"),
        st.Page("app_pages/evaluate.py", title="Evaluate", icon=":material/fact_check:"),
    ],
    "Label": [st.Page("app_pages/label.py", title="Label", icon=":material/brush:")],
    "Admin": [st.Page("app_pages/audit.py", title="Audit", icon=":material/policy:")],
}
# Each role sees the pages it may open; a section left empty (Admin for an analyst) is not drawn.
# Deep links (/train, /audit) are the pages' own url paths, whatever their section.
allowed = {section: [p for p in pages if auth.may_open(actor, p)] for section, pages in SECTIONS.items()}
st.navigation({section: pages for section, pages in allowed.items() if pages}).run()
