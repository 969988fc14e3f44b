from textkit.wrap import wrap


def test_wrap_basic():
    assert wrap("the quick brown fox", 10) == ["the quick", "brown fox"]


def test_long_word_kept_whole():
    assert wrap("supercalifragilistic yes", 5) == ["supercalifragilistic", "yes"]
