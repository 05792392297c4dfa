"""Which words of a message are looked up in the shop's catalogue."""

from __future__ import annotations

from easyflow.services.catalogue import MAX_WORDS, product_words


def test_product_words_skip_common_words_numbers_and_repeats() -> None:
    assert product_words("Do you have the Milano sofa? Milano, in grey") == (
        "milano",
        "sofa",
        "grey",
    )
    assert product_words("Есть ли в наличии диван Милано?") == ("диван", "милано")
    assert product_words("Where is order 1001?") == ()
    assert product_words("article A-1234 or OSL1") == ("article", "osl1")  # digits alone: no


def test_at_most_a_few_words_are_looked_up() -> None:
    assert len(product_words("alpha bravo charlie delta echoes foxtrot golfs hotel")) == MAX_WORDS
