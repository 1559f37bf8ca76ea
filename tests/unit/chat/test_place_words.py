"""Where something happened, said the way people say it in a card: never a platform's id."""

from __future__ import annotations

import pytest

from opsroom.core.places import Place


@pytest.mark.parametrize(
    ("place", "spoken"),
    [
        (Place("web", "ops", channel_name="#ops"), "#ops"),
        (Place("slack", "C0123ABC", channel_name="#ops"), "#ops on Slack"),
        (Place("mattermost", "k3c9x8y7", channel_name="#deploys"), "#deploys on Mattermost"),
        (Place("matrix", "!abc:localhost"), "a channel on Matrix"),
        (Place("web", "dm-alice", is_direct=True), "a direct message"),
        (Place("teams", "19:abc", is_direct=True, channel_name="#ops"), "a direct message on Teams"),
    ],
)
def test_a_place_is_named_in_plain_words(place: Place, spoken: str) -> None:
    assert place.spoken == spoken
