"""StormSeg engine: data, models, losses, metrics, training, inference and reports.

Nothing in this package imports streamlit; the app in `app.py` and `app_pages/` is a thin layer on
top. Every feature is also reachable from the command line: `python -m seg_core --help`.
"""

__version__ = "0.1.0"
