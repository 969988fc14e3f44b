import pytest

from textkit.durations import format_duration, parse_duration


def test_hours_and_minutes():
    assert parse_duration("1h30m") == 5400


def test_days_with_space():
    assert parse_duration("2d 4h") == 187200


def test_rejects_unknown_unit():
    with pytest.raises(ValueError):
        parse_duration("3y")


def test_format_roundtrip():
    assert format_duration(parse_duration("1d2h3m")) == "1d2h3m"
