import pytest
from pydantic import ValidationError

from opsroom.config.audit import AuditConfig


def test_timezone_defaults_to_utc_and_accepts_iana_names() -> None:
    assert AuditConfig().timezone == "UTC"
    assert AuditConfig(timezone="Europe/Berlin").timezone == "Europe/Berlin"


@pytest.mark.parametrize("bad", ["Mars/Olympus", "../etc/passwd", ""])
def test_unknown_timezone_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match="timezone"):
        AuditConfig(timezone=bad)


def test_unknown_key_is_refused() -> None:
    with pytest.raises(ValidationError):
        AuditConfig(timezon="UTC")  # type: ignore[call-arg]
