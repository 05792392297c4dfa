"""Telegram's HTML parse mode (platforms/telegram.md §1.6): text, entities, error texts."""

from __future__ import annotations

import pytest

from easyflow.sandbox.telegram.html import EntityParseError, parse_html


def test_the_doc_example_becomes_plain_text_and_a_bold_entity() -> None:
    text, entities = parse_html("<b>Order #42</b> is ready &amp; paid")
    assert text == "Order #42 is ready & paid"
    assert entities == [{"offset": 0, "length": 9, "type": "bold"}]


def test_offsets_are_utf16_units() -> None:
    text, entities = parse_html("😀 <i>Привет</i> 🍕<u>x</u>")
    assert text == "😀 Привет 🍕x"
    assert entities == [
        {"offset": 3, "length": 6, "type": "italic"},
        {"offset": 12, "length": 1, "type": "underline"},
    ]


@pytest.mark.parametrize(
    ("markup", "plain"),
    [
        ("&lt;tag&gt; &quot;q&quot;", '<tag> "q"'),
        ("&#39;&#x27;&#128512;", "''😀"),
        ("AT&T &nbsp; &copy", "AT&T &nbsp; &copy"),  # unknown entities stay literal
        ("a > b", "a > b"),
        ("line 1\nline 2", "line 1\nline 2"),
    ],
)
def test_entities_and_literals(markup: str, plain: str) -> None:
    assert parse_html(markup) == (plain, [])


def test_every_supported_tag() -> None:
    markup = (
        "<strong>b</strong><em>i</em><ins>u</ins><del>s</del><strike>s</strike>"
        '<span class="tg-spoiler">p</span><tg-spoiler>p</tg-spoiler>'
        '<a href="https://example.org/?a=1&amp;b=2">l</a><code>c</code>'
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>'
        "<blockquote>q</blockquote><blockquote expandable>e</blockquote>"
    )
    text, entities = parse_html(markup)
    assert text == "biusspplc👍qe"
    types = [(e["offset"], e["type"]) for e in entities]
    assert types == [
        (0, "bold"),
        (1, "italic"),
        (2, "underline"),
        (3, "strikethrough"),
        (4, "strikethrough"),
        (5, "spoiler"),
        (6, "spoiler"),
        (7, "text_link"),
        (8, "code"),
        (9, "custom_emoji"),
        (11, "blockquote"),
        (12, "expandable_blockquote"),
    ]
    assert entities[7]["url"] == "https://example.org/?a=1&b=2"
    assert entities[9]["custom_emoji_id"] == "5368324170671202286"


def test_pre_with_a_language_is_one_entity() -> None:
    text, entities = parse_html('<pre><code class="language-python">print(1)</code></pre>')
    assert text == "print(1)"
    assert entities == [{"offset": 0, "length": 8, "type": "pre", "language": "python"}]


def test_nested_entities_share_an_offset_in_tdlib_order() -> None:
    _, entities = parse_html("<i><b>x</b> y</i>")
    assert entities == [
        {"offset": 0, "length": 3, "type": "italic"},
        {"offset": 0, "length": 1, "type": "bold"},
    ]
    _, same_span = parse_html("<i><b>x</b></i>")
    assert [e["type"] for e in same_span] == ["bold", "italic"]


def test_empty_entities_are_dropped_and_tags_are_case_insensitive() -> None:
    assert parse_html("<B>x</B><i></i>") == ("x", [{"offset": 0, "length": 1, "type": "bold"}])


@pytest.mark.parametrize(
    ("markup", "error"),
    [
        ("Hi<br>there", 'Unsupported start tag "br" at byte offset 2'),
        ("Привет <p>x</p>", 'Unsupported start tag "p" at byte offset 13'),
        ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ('<a href="x>y</a>', "Unclosed start tag at byte offset 0"),
        ("<b", "Unclosed start tag at byte offset 0"),
        (
            "<a href>x</a>",
            'Expected equal sign in declaration of an attribute of the tag "a" at byte offset 0',
        ),
    ],
)
def test_parse_errors_cite_the_byte_offset(markup: str, error: str) -> None:
    with pytest.raises(EntityParseError) as caught:
        parse_html(markup)
    assert str(caught.value) == error
