"""The sandboxed renderer: allow-listed substitution only, no header injection (E2, E3)."""
from __future__ import annotations

import pytest

from messaging import merge


def test_renders_allow_listed_fields():
    values = merge.contact_values({"first_name": "Sarah", "last_name": "Johnson", "company": "TechCorp",
                                   "position": "VP of Sales"}, "Sam Sales", "sales@demo.crm")
    text = "Hi {first_name} {last_name} ({position}, {company_name}) - {sender_name} <{sender_email}>"
    assert merge.render(text, values) == "Hi Sarah Johnson (VP of Sales, TechCorp) - Sam Sales <sales@demo.crm>"


@pytest.mark.parametrize("template", [
    "{first_name.__class__}", "{0}", "{first_name!r}", "{first_name:>10}", "{__import__}",
    "{{first_name.__globals__}}", "{first_name|attr('__class__')}", "{config}",
])
def test_tricks_are_unknown_fields_and_render_literally(template):
    assert merge.unknown_fields(template)
    assert merge.render(template, {"first_name": "X"}) == template


def test_text_with_spaces_in_braces_is_not_a_reference():
    assert merge.unknown_fields("css { color: red } and {first_name}") == []


def test_values_are_never_rendered_again():
    # a merge value that looks like a placeholder stays literal (no second pass)
    assert merge.render("{first_name}", {"first_name": "{sender_email}", "sender_email": "x"}) == "{sender_email}"


@pytest.mark.parametrize("value", [
    "Eve\r\nBcc: victim@example.com", "Eve\nBcc: victim@example.com", "Eve\rBcc: v@example.com",
    "=?utf-8?q?Eve=0D=0ABcc:_victim@example.com?=", "=?utf-8?b?RXZlDQpCY2M6IHZpY3RpbUBleGFtcGxlLmNvbQ==?=",
    "Eve\u2028Bcc: v@example.com", "Eve\x85Bcc: v@example.com", "Eve\x00Bcc: v@example.com",
])
def test_header_values_lose_every_line_break(value):
    subject, _ = merge.render_message("Hello {first_name}", "", {"first_name": value})
    assert "\r" not in subject and "\n" not in subject and "\u2028" not in subject and "\x85" not in subject
    assert "=?" not in subject
    assert subject.startswith("Hello Eve")


def test_body_values_are_one_line():
    _, body = merge.render_message("", "Dear {first_name},\nthanks", {"first_name": "A\r\nB"})
    assert body == "Dear A B,\nthanks"
