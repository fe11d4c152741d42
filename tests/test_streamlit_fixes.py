"""ui/streamlit_fixes.py: Streamlit keeps an uploader's address reply when a new run clears the
queue of the run it interrupts, and still sends every message once."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402
from streamlit.runtime.forward_msg_queue import ForwardMsgQueue  # noqa: E402

from ui import streamlit_fixes  # noqa: E402


def _reply(response_id: str) -> ForwardMsg:
    msg = ForwardMsg()
    msg.file_urls_response.response_id = response_id
    return msg


def _delta(text: str) -> ForwardMsg:
    msg = ForwardMsg()
    msg.metadata.delta_path[:] = [0, 0]
    msg.delta.new_element.markdown.body = text
    return msg


def _types(queue: ForwardMsgQueue) -> list[str]:
    return [msg.WhichOneof("type") for msg in queue._queue]


def test_a_new_run_keeps_the_reply_an_uploader_waits_for():
    assert streamlit_fixes.keep_upload_replies()
    assert streamlit_fixes.keep_upload_replies()  # the app calls it on every rerun: once is enough
    queue = ForwardMsgQueue()
    queue.enqueue(_delta("the interrupted run's text"))
    queue.enqueue(_reply("photos-1"))
    queue.clear(retain_lifecycle_msgs=True)  # what a starting run does (AppSession._clear_queue)
    assert _types(queue) == ["file_urls_response"]  # the run's output goes, the reply stays
    assert queue._queue[0].file_urls_response.response_id == "photos-1"
    sent = queue.flush()
    assert [m.file_urls_response.response_id for m in sent] == ["photos-1"]
    assert queue.is_empty()  # sent once: a flush's own clear keeps nothing
    queue.clear(retain_lifecycle_msgs=True)
    assert queue.is_empty()


def test_a_cleared_queue_keeps_each_reply_once_beside_the_life_cycle_messages():
    streamlit_fixes.keep_upload_replies()
    queue = ForwardMsgQueue()
    finished = ForwardMsg()
    finished.script_finished = ForwardMsg.FINISHED_SUCCESSFULLY
    queue.enqueue(_reply("a"))
    queue.enqueue(finished)
    queue.enqueue(_reply("b"))
    queue.clear(retain_lifecycle_msgs=True)
    queue.clear(retain_lifecycle_msgs=True)  # twice, as when runs follow each other quickly
    kinds = _types(queue)
    assert kinds.count("file_urls_response") == 2 and "script_finished" in kinds
    assert sorted(
        m.file_urls_response.response_id for m in queue._queue if m.HasField("file_urls_response")
    ) == [
        "a",
        "b",
    ]
