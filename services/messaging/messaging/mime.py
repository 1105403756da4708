"""Turning a rendered email into a MIME message with tracking and unsubscribe.

Every message gets a tracking pixel (HTML part), links rewritten to the
click endpoint (only links present in the message can ever be redirected to:
the click token is the message token plus the link's index), a visible
unsubscribe link, and the ``List-Unsubscribe`` / ``List-Unsubscribe-Post``
headers of RFC 2369 and RFC 8058.
"""
from __future__ import annotations

import binascii
import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime, formataddr, make_msgid

from messaging.merge import header_safe

URL = re.compile(r"https?://[^\s<>\"'()\[\]{}]+[^\s<>\"'()\[\]{}.,;:!?]")


def extract_links(body: str) -> list[str]:
    """The distinct http(s) links of a body, in order of appearance."""
    links: list[str] = []
    for match in URL.finditer(body or ""):
        if match.group(0) not in links:
            links.append(match.group(0))
    return links


def new_message_id(domain: str) -> str:
    return make_msgid(domain=domain or "crm.local")


@dataclass(frozen=True)
class Outgoing:
    email_id: str
    token: str
    from_name: str
    from_email: str
    to_email: str
    subject: str
    body: str
    message_id: str
    in_reply_to: str | None = None
    reply_to: str | None = None


def tracking_urls(base_url: str, token: str) -> dict[str, str]:
    base = base_url.rstrip("/")
    return {"open": f"{base}/t/o/{token}.gif", "click": f"{base}/t/c/{token}", "unsubscribe": f"{base}/u/{token}"}


def _header(name: str, value: str) -> bytes:
    """One header; the value is already a single safe line, encoded words only for non-ASCII."""
    value = header_safe(value)
    if value.isascii() and len(value) < 900:
        return f"{name}: {value}\r\n".encode("ascii")
    return f"{name}: {Header(value, 'utf-8', header_name=name).encode(linesep=chr(13) + chr(10))}\r\n".encode("ascii")


def _part(content_type: str, text: str) -> bytes:
    encoded = binascii.b2a_qp(text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8"),
                              istext=False, header=False)
    return (f"Content-Type: {content_type}; charset=\"utf-8\"\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n").encode("ascii") + encoded + b"\r\n"


def build_message(out: Outgoing, base_url: str) -> tuple[bytes, list[str]]:
    """The message as RFC 5322 bytes, and the list of original links (index = click token suffix).

    Built by hand rather than with ``email.message.EmailMessage``: the standard
    library's header machinery costs milliseconds a message, which is most of
    a bulk send. Every header value goes through ``header_safe`` (one line, no
    control characters) and non-ASCII is RFC 2047-encoded by ``email.header``.
    """
    urls = tracking_urls(base_url, out.token)
    links = extract_links(out.body)
    index = {link: n for n, link in enumerate(links)}

    def tracked(link: str) -> str:
        return f"{urls['click']}.{index[link]}"

    text = URL.sub(lambda m: tracked(m.group(0)), out.body)
    text += f"\n\n--\nTo stop receiving these emails, unsubscribe: {urls['unsubscribe']}\n"

    parts: list[str] = []
    last = 0
    for match in URL.finditer(out.body):
        parts.append(html.escape(out.body[last:match.start()]))
        parts.append(f'<a href="{html.escape(tracked(match.group(0)))}">{html.escape(match.group(0))}</a>')
        last = match.end()
    parts.append(html.escape(out.body[last:]))
    html_body = ("<html><body><div>" + "".join(parts).replace("\n", "<br>\n") + "</div>"
                 f'<p style="font-size:12px;color:#6B7280"><a href="{html.escape(urls["unsubscribe"])}">'
                 "Unsubscribe</a></p>"
                 f'<img src="{html.escape(urls["open"])}" width="1" height="1" alt="" style="display:none">'
                 "</body></html>")

    boundary = f"=_crm_{out.token}"
    head = [
        _header("From", formataddr((header_safe(out.from_name), header_safe(out.from_email)), charset="utf-8")),
        _header("To", out.to_email),
        _header("Subject", out.subject),
        _header("Date", format_datetime(datetime.now(UTC))),
        _header("Message-ID", out.message_id),
    ]
    if out.reply_to:
        head.append(_header("Reply-To", out.reply_to))
    if out.in_reply_to:
        head += [_header("In-Reply-To", out.in_reply_to), _header("References", out.in_reply_to)]
    head += [
        _header("List-Unsubscribe", f"<{urls['unsubscribe']}>"),
        _header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        _header("X-CRM-Email-Id", out.email_id),
        b"MIME-Version: 1.0\r\n",
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'.encode("ascii"),
    ]
    body = (f"--{boundary}\r\n".encode("ascii") + _part("text/plain", text)
            + f"--{boundary}\r\n".encode("ascii") + _part("text/html", html_body)
            + f"--{boundary}--\r\n".encode("ascii"))
    return b"".join(head) + body, links
