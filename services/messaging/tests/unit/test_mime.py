"""MIME building: tracking pixel, rewritten links, unsubscribe headers, no injected headers."""
from __future__ import annotations

import email
import email.policy

from messaging.merge import render_message
from messaging.mime import Outgoing, build_message, extract_links


def out(**kw):
    base = dict(email_id="e1", token="tok_123456789012345", from_name="Sam", from_email="crm@demo.crm",
                to_email="sarah@techcorp.com", subject="Hi", body="See https://example.com/a?x=1.",
                message_id="<m1@demo.crm>")
    base.update(kw)
    return Outgoing(**base)


def parsed(raw: bytes):
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_links_are_rewritten_and_listed():
    msg, links = build_message(out(body="A https://example.com/a?x=1. and https://b.example/p, again "
                                        "https://example.com/a?x=1"), "http://gw")
    assert links == ["https://example.com/a?x=1", "https://b.example/p"]
    text = parsed(msg).get_body(("plain",)).get_content()
    assert "http://gw/t/c/tok_123456789012345.0" in text and "http://gw/t/c/tok_123456789012345.1" in text
    assert "https://example.com/a" not in text


def test_pixel_unsubscribe_and_list_headers():
    msg = parsed(build_message(out(), "http://gw")[0])
    html = msg.get_body(("html",)).get_content()
    assert 'src="http://gw/t/o/tok_123456789012345.gif"' in html
    assert "http://gw/u/tok_123456789012345" in html
    assert msg["List-Unsubscribe"] == "<http://gw/u/tok_123456789012345>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_injection_in_subject_creates_no_header():
    subject, body = render_message("Hello {first_name}", "Hi {first_name}",
                                   {"first_name": "Eve\r\nBcc: victim@example.com"})
    raw = build_message(out(subject=subject, body=body), "http://gw")[0]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Bcc"] is None
    assert b"\nBcc:" not in raw
    assert "Eve Bcc: victim@example.com" in str(msg["Subject"])


def test_extract_links_ignores_trailing_punctuation():
    assert extract_links("(see https://x.example/path).") == ["https://x.example/path"]


def test_non_ascii_and_long_values_are_encoded_not_broken():
    raw, _ = build_message(out(subject="Grüße, Zoë " + "x" * 1200, from_name="Jürgen", body="Ünïcode body"),
                           "http://gw")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    msg = parsed(raw)
    assert str(msg["Subject"]).startswith("Grüße, Zoë x") and "Jürgen" in str(msg["From"])
    assert "Ünïcode body" in msg.get_body(("plain",)).get_content()
    assert msg["Bcc"] is None


def test_reply_to_carries_the_senders_address():
    msg = parsed(build_message(out(reply_to="sales@demo.crm"), "http://gw")[0])
    assert msg["Reply-To"] == "sales@demo.crm" and msg["X-CRM-Email-Id"] == "e1"
