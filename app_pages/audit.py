"""Audit: every guarded action, allowed or refused (who, what, which run or file, when, from where),
newest first, for admins; filter it and download it as CSV. Read-only: the table refuses edits."""

import time

import pandas as pd
import streamlit as st

from seg_core.runs.registry import RunRegistry
from seg_core.team import access, audit
from ui.auth import current_actor
from ui.common import friendly_errors

SHOWN = 10_000  # newest rows read; the CSV download holds the same rows

st.title("Audit")
st.caption(
    "Who did what, to which run or file, when and from where: starting, stopping, resuming and deleting "
    "runs, uploads, saved masks and refusals. Rows can only be added, never changed, from the app or anywhere "
    "else in StormSeg."
)
registry = RunRegistry()
rows = None
with friendly_errors("Reading the audit trail"):
    rows = access.read_audit(current_actor(), registry, limit=SHOWN)
if rows is None:
    st.stop()
if not rows:
    st.info("Nothing audited yet.")
    st.stop()

frame = pd.DataFrame([vars(row) for row in rows])
frame.insert(1, "when (UTC)", [time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) for t in frame["time"]])
who, what, outcome = st.columns(3)
people = who.multiselect("Who", sorted(frame["actor"].unique()), placeholder="everyone")
actions = what.multiselect("Action", sorted(frame["action"].unique()), placeholder="every action")
outcomes = outcome.multiselect("Outcome", list(audit.OUTCOMES), placeholder="every outcome")
keep = pd.Series(True, index=frame.index)
for column, chosen in (("actor", people), ("action", actions), ("outcome", outcomes)):
    if chosen:  # nothing chosen: no filter on that column
        keep &= frame[column].isin(chosen)
shown = frame[keep]
st.dataframe(
    shown.drop(columns=["time"]),
    hide_index=True,
    placeholder="–",
    column_config={
        "id": st.column_config.NumberColumn("#", width="small"),
        "bytes": st.column_config.NumberColumn("Bytes", help="uploads only"),
        "detail": st.column_config.TextColumn("Detail", width="large"),
    },
)
st.caption(f"{len(shown)} of {len(frame)} rows shown (the newest {SHOWN} are read).")
st.download_button(
    "Download as CSV",
    audit.to_csv([row for row in rows if row.id in set(shown["id"])]),
    file_name="stormseg_audit.csv",
    mime="text/csv",
    icon=":material/download:",
)
