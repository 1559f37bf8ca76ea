"""A run's progress message is posted once the run first waits for something: a run that
ended before then shows one message (its final one), a run that takes a while shows the
progress message with its Cancel button and then the final edit of that same message."""

from __future__ import annotations

import asyncio

from tests.support.chat import RecordingAdapter

from opsroom.chat.base import ChatHub
from opsroom.core import Actions, CommandSpec, Invocation, Message, MessageRef, Place, Principal, RunState
from opsroom.reporter import Reporter
from opsroom.runs.service import LiveRun, RunOutcome


class SlowAdapter(RecordingAdapter):
    """A platform whose posts take a while (a network round trip)."""

    async def send(self, place: Place, message: Message) -> MessageRef:
        await asyncio.sleep(0.05)
        return await super().send(place, message)


def _setup(adapter: RecordingAdapter) -> tuple[Reporter, Invocation, list[str]]:
    hub = ChatHub()
    hub.add(adapter)
    minted: list[str] = []

    def mint(kind: str, args: object) -> str:
        minted.append(kind)
        return "signed"

    reporter = Reporter(hub, mint)
    inv = Invocation(CommandSpec("ping"), {}, "ping", Principal("alice"), adapter.place())
    return reporter, inv, minted


def _done(run_id: int) -> RunOutcome:
    return RunOutcome(run_id, RunState.SUCCEEDED, 0, 0.001, "pong\n", "", "", 0)


async def test_a_run_that_ends_before_its_progress_message_is_posted_shows_one_message() -> None:
    adapter = RecordingAdapter()
    reporter, inv, minted = _setup(adapter)
    reporter.track(1, inv)
    live = LiveRun(1, "ping", "alice")
    await reporter.run_started(1, live)
    live.finishing = True  # the runner answered in the same turn of the loop
    await asyncio.sleep(0)  # the turn the progress message was due on
    await reporter.run_finished(1, _done(1))
    await asyncio.sleep(0.01)
    [post] = adapter.posts
    [message] = post.versions  # posted once, never edited
    assert message.tone == "success" and "pong" in message.as_text() and "run #1" in message.as_text()
    assert not any(isinstance(b, Actions) for b in message.blocks)  # no Cancel button on a finished run
    assert minted == []  # nothing signed for a button nobody sees


async def test_a_run_that_ends_before_the_loop_comes_round_shows_one_message() -> None:
    adapter = RecordingAdapter()
    reporter, inv, _ = _setup(adapter)
    reporter.track(1, inv)
    await reporter.run_started(1, LiveRun(1, "ping", "alice"))
    await reporter.run_finished(1, _done(1))  # the run's end written without waiting
    await asyncio.sleep(0.01)
    assert [len(p.versions) for p in adapter.posts] == [1]
    assert adapter.posts[0].versions[0].tone == "success"


async def test_a_run_that_waits_shows_its_progress_message_then_the_final_edit() -> None:
    adapter = RecordingAdapter()
    reporter, inv, minted = _setup(adapter)
    reporter.track(2, inv)
    live = LiveRun(2, "ping", "alice")
    await reporter.run_started(2, live)
    await asyncio.sleep(0.01)  # the runner waits (a process, a network call)
    [post] = adapter.posts
    assert post.versions[0].tone == "running"
    [actions] = [b for b in post.versions[0].blocks if isinstance(b, Actions)]
    assert [b.label for b in actions.buttons] == ["Cancel"] and minted == ["run.cancel"]
    live.finishing = True
    await reporter.run_finished(2, _done(2))
    assert [m.tone for m in post.versions] == ["running", "success"]
    assert len(adapter.posts) == 1


async def test_a_run_that_ends_while_its_progress_message_is_on_the_way_edits_that_message() -> None:
    adapter = SlowAdapter()
    reporter, inv, _ = _setup(adapter)
    reporter.track(3, inv)
    live = LiveRun(3, "ping", "alice")
    await reporter.run_started(3, live)
    await asyncio.sleep(0.01)  # the post has started, the platform has not answered yet
    live.finishing = True
    await reporter.run_finished(3, _done(3))
    [post] = adapter.posts  # not a second message beside the first
    assert [m.tone for m in post.versions] == ["running", "success"]


async def test_an_observer_call_without_the_live_run_posts_at_once() -> None:
    adapter = RecordingAdapter()
    reporter, inv, _ = _setup(adapter)
    reporter.track(4, inv)
    await reporter.run_started(4)
    assert [p.versions[0].tone for p in adapter.posts] == ["running"]


async def test_output_that_comes_while_the_progress_message_is_on_the_way_is_shown_by_an_edit() -> None:
    adapter = SlowAdapter()
    reporter, inv, _ = _setup(adapter)
    reporter.edit_interval = 0.05
    reporter.track(5, inv)
    live = LiveRun(5, "deploy", "alice")
    await reporter.run_started(5, live)
    await asyncio.sleep(0.01)  # posting
    live.last_progress = "step 1/3: pulling image"
    await reporter.run_progress(5, live)  # the runner then goes quiet for a long while
    await asyncio.sleep(0.3)
    [post] = adapter.posts
    assert [m.tone for m in post.versions] == ["running", "running"]
    assert "step 1/3" in post.versions[-1].as_text()


async def test_runs_started_in_one_turn_each_get_the_message_their_own_end_calls_for() -> None:
    """Runs started in the same turn share the turn's callback: the one that ended by then
    shows only its final message, the ones still running their progress messages."""
    adapter = RecordingAdapter()
    reporter, inv, _ = _setup(adapter)
    lives = {run_id: LiveRun(run_id, "ping", "alice") for run_id in (1, 2, 3)}
    for run_id, live in lives.items():
        reporter.track(run_id, inv)
        await reporter.run_started(run_id, live)
    lives[2].finishing = True
    await reporter.run_finished(2, _done(2))  # ended in the turn it started
    await asyncio.sleep(0.01)
    tones = sorted(p.versions[0].tone for p in adapter.posts)
    assert tones == ["running", "running", "success"]
    for run_id in (1, 3):
        await reporter.run_finished(run_id, _done(run_id))
    await asyncio.sleep(0.01)
    assert sorted(p.versions[-1].tone for p in adapter.posts) == ["success"] * 3
    assert [len(p.versions) for p in adapter.posts].count(2) == 2  # progress, then its final edit


def test_a_loop_closed_with_the_callback_due_does_not_hold_up_the_next_loop() -> None:
    adapter = RecordingAdapter()
    reporter, inv, _ = _setup(adapter)

    async def start(run_id: int) -> None:
        reporter.track(run_id, inv)
        await reporter.run_started(run_id, LiveRun(run_id, "ping", "alice"))

    async def start_then_stop() -> None:
        await start(1)
        asyncio.get_running_loop().stop()  # ends after this turn: the callback never runs

    first = asyncio.new_event_loop()
    first.run_until_complete(start_then_stop())
    first.close()

    async def second() -> None:
        await start(2)
        await asyncio.sleep(0.01)

    asyncio.run(second())
    assert [p.versions[0].tone for p in adapter.posts] == ["running"]  # run 2's, posted
