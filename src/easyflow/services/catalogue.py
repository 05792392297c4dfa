"""Which words of a customer's message may name a product in the shop's catalogue.

The catalogue is public (anyone may hear what the shop sells), so a search costs nothing in
privacy; it costs a query, so it is made only for chains with a model that can use it.
"""

from __future__ import annotations

import re

MAX_WORDS = 5
_WORD = re.compile(r"[^\W_]{4,}")
# Words of a question that name no product (Russian and English).
_COMMON_WORDS = """
about also available could delivery does from have hello many much need order orders
please price should stock thank thanks that there this want what when where which with
would your
будет доставка если есть заказ заказа заказы здравствуйте какая какие какой когда которые
много можно наличии нужно пожалуйста привет сколько спасибо стоит такой только хочу цена
через чтобы эта это этот
"""
_COMMON = frozenset(_COMMON_WORDS.split())


def product_words(text: str) -> tuple[str, ...]:
    """Up to MAX_WORDS distinct words of four letters or more that are not common words, in
    the order written (digits count: an article like "A1234")."""
    seen: list[str] = []
    for word in _WORD.findall(text.lower()):
        if word not in _COMMON and word not in seen and not word.isdigit():
            seen.append(word)
        if len(seen) == MAX_WORDS:
            break
    return tuple(seen)
