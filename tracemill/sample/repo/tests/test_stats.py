import pytest

from textkit.stats import mean, median, word_counts


def test_mean():
    assert mean([1, 2, 3, 4]) == 2.5


def test_median_odd():
    assert median([3, 1, 2]) == 2


def test_median_empty():
    with pytest.raises(ValueError):
        median([])


def test_word_counts():
    assert word_counts("a A b") == {"a": 2, "b": 1}
