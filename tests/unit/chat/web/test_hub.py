"""Live delivery: one encoding per message, ephemeral messages to their one reader, and a slow
or departed browser never holds anyone up."""

from __future__ import annotations

import asyncio

from opsroom.chat.web.hub import CLIENT_GONE, GOING_AWAY, QUEUE_SIZE, TOO_SLOW, Hub, Subscriber


def test_a_message_is_encoded_once_for_every_watcher() -> None:
    hub = Hub()
    watchers = [Subscriber(f"user{i}", {"ops"}) for i in range(50)]
    elsewhere = Subscriber("dave", {"leads"})
    for sub in [*watchers, elsewhere]:
        hub.subscribe(sub)
    assert hub.publish("ops", {"type": "message", "id": 7, "html": "<p>hi</p>"}) == 50
    frames = [sub.queue.get_nowait() for sub in watchers]
    assert frames[0] == '{"type":"message","id":7,"html":"<p>hi</p>"}'
    assert all(frame is frames[0] for frame in frames), "the same encoded frame, not 50 encodings"
    assert elsewhere.queue.empty()


def test_an_ephemeral_message_reaches_only_its_reader() -> None:
    hub = Hub()
    alice, bob = Subscriber("alice", {"ops"}), Subscriber("bob", {"ops"})
    hub.subscribe(alice)
    hub.subscribe(bob)
    assert hub.publish("ops", {"id": 1}, only="alice") == 1
    assert alice.queue.qsize() == 1 and bob.queue.empty()


def test_a_slow_browser_is_dropped_without_slowing_the_others() -> None:
    hub = Hub()
    slow, fast = Subscriber("slow", {"ops"}), Subscriber("fast", {"ops"})
    hub.subscribe(slow)
    hub.subscribe(fast)
    for i in range(QUEUE_SIZE + 1):
        hub.publish("ops", {"id": i})
        fast.queue.get_nowait()  # this one keeps up
    assert slow.close_code == TOO_SLOW and slow.dropped
    assert fast.close_code is None
    hub.publish("ops", {"id": "later"})
    assert fast.queue.get_nowait() == '{"id":"later"}'
    assert slow.queue.qsize() == QUEUE_SIZE, "nothing more is queued for a dropped browser"


async def test_stopping_wakes_a_writer_waiting_on_an_empty_queue() -> None:
    for code in (GOING_AWAY, CLIENT_GONE):
        sub = Subscriber("alice", {"ops"})
        waiting = asyncio.ensure_future(sub.queue.get())
        await asyncio.sleep(0)
        sub.stop(code)
        await asyncio.wait_for(waiting, 1)
        assert sub.close_code == code
        sub.stop(TOO_SLOW)
        assert sub.close_code == code, "the first reason to stop is the one the writer acts on"


async def test_server_shutdown_tells_every_writer_to_go_away() -> None:
    hub = Hub()
    subs = [Subscriber(f"user{i}", {"ops", "dm:x"}) for i in range(3)]
    for sub in subs:
        hub.subscribe(sub)
    hub.close_all()
    assert [s.close_code for s in subs] == [GOING_AWAY] * 3
    assert all(s.queue.get_nowait() == "" for s in subs)
    for sub in subs:
        hub.unsubscribe(sub)
    assert hub.count() == 0
