"""The sealed state of a Mattermost reason form: only what we sealed, unaltered, in time."""

from __future__ import annotations

from tests.fakes.mattermost import dialog_errors

from opsroom.chat.mattermost_dialog import FORM_SECONDS, Asked, reason_dialog, seal, unseal

ASKED = Asked("signed-action", "chan", "post", "carol", "nonce")


def test_a_sealed_state_opens_only_with_our_key_unaltered_and_in_time() -> None:
    state = seal(b"k", ASKED, now=1000.0)
    assert unseal(b"k", state, now=1000.0 + FORM_SECONDS) == ASKED
    assert unseal(b"k", state, now=1001.0 + FORM_SECONDS) is None  # expired
    assert unseal(b"other", state, now=1000.0) is None
    raw, _, sig = state.partition(".")
    assert unseal(b"k", raw[:-2] + "AA." + sig, now=1000.0) is None
    assert unseal(b"k", "", now=1000.0) is None and unseal(b"k", "ü.ü", now=1000.0) is None


def test_the_dialog_fits_mattermosts_limits_even_for_long_questions() -> None:
    dialog = reason_dialog("Deny this production deploy now", "why? " * 100, "/ops deny 1 <reason>", "s")
    assert dialog_errors({"url": "https://x/dialog", "trigger_id": "t", "dialog": dialog}) == []
    assert dialog["elements"][0]["optional"] is False
