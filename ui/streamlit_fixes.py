"""Mends for Streamlit defects that lose an analyst's input; each says what it mends and why.

Photos dropped on an uploader while the page reruns (read in Streamlit 1.67's source): the uploader
asks the server for upload addresses (a `file_urls_response` comes back) and lists the photos only
once they arrive. The server queues that reply for its next send, roughly every 10 ms; when a run
starts in between (another widget's rerun, a drawing canvas reporting its value), Streamlit clears
the queue of the interrupted run and keeps only the run's life-cycle messages, so the reply is
thrown away. The uploader then waits for it forever: its list stays empty, no run comes, and the
photos the analyst chose are silently gone. Seen in the first-hour browser test on a loaded
machine, and reproduced with a bare uploader and a button clicked just before the photos
(`tests/e2e/test_rerun_races.py`). The mend keeps such replies when the queue of an
interrupted run is cleared: they answer the browser, not the run.
"""

from __future__ import annotations

import logging

_LOG = logging.getLogger("stormseg.ui")
_KEPT = "file_urls_response"  # ForwardMsg field of the server's reply to an uploader


def keep_upload_replies() -> bool:
    """Make Streamlit keep uploaders' address replies when it clears an interrupted run's queue.

    Idempotent (the app script runs on every rerun). Returns whether the mend is in place; where
    Streamlit's queue no longer looks as expected it changes nothing and logs why.
    """
    from streamlit.runtime import forward_msg_queue

    queue_class = getattr(forward_msg_queue, "ForwardMsgQueue", None)
    clear = getattr(queue_class, "clear", None)
    if clear is None:
        _LOG.warning("Streamlit's ForwardMsgQueue.clear is gone: uploads are not guarded against reruns")
        return False
    if getattr(clear, "_stormseg_keeps_upload_replies", False):
        return True

    def clear_keeping_upload_replies(self, retain_lifecycle_msgs: bool = False, *args, **kwargs):
        # Only the clear of an interrupted run keeps them: flush() clears without retaining after it
        # has taken every message to send, and must not send a reply twice.
        kept = (
            [msg for msg in getattr(self, "_queue", []) if msg.WhichOneof("type") == _KEPT]
            if retain_lifecycle_msgs
            else []
        )
        clear(self, retain_lifecycle_msgs, *args, **kwargs)
        if kept:
            still = {id(msg) for msg in self._queue}
            self._queue.extend(msg for msg in kept if id(msg) not in still)

    clear_keeping_upload_replies._stormseg_keeps_upload_replies = True  # type: ignore[attr-defined]
    queue_class.clear = clear_keeping_upload_replies
    return True
