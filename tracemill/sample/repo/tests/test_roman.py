import pytest

from textkit.roman import from_roman, to_roman


@pytest.mark.parametrize("number,text", [(1, "I"), (3, "III"), (4, "IV"), (9, "IX"), (14, "XIV"), (1994, "MCMXCIV")])
def test_to_roman(number, text):
    assert to_roman(number) == text


def test_from_roman_additive():
    assert from_roman("XVIII") == 18


def test_from_roman_rejects_garbage():
    with pytest.raises(ValueError):
        from_roman("ABC")


def test_to_roman_range():
    with pytest.raises(ValueError):
        to_roman(0)
