"""Turning a rendered email into a MIME message with tracking and unsubscribe.

Every message gets a tracking pixel (HTML part), links rewritten to the
click endpoint (only links present in the message can ever be redirected to:
the click token is the message token plus the link's index), a visible
unsubscribe link, and the ``List-Unsubscribe`` / ``List-Unsubscribe-Post``
headers of RFC 2369 and RFC 8058.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
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


def tracking_urls(base_url: str, token: str) -> dict[str, str]:
    base = base_url.rstrip("/")
    return {"open": f"{base}/t/o/{token}.gif", "click": f"{base}/t/c/{token}", "unsubscribe": f"{base}/u/{token}"}


def build_message(out: Outgoing, base_url: str) -> tuple[EmailMessage, list[str]]:
    """The MIME message and the list of original links (index = click token suffix)."""
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

    msg = EmailMessage(policy=SMTP)
    msg["From"] = formataddr((header_safe(out.from_name), header_safe(out.from_email)))
    msg["To"] = header_safe(out.to_email)
    msg["Subject"] = header_safe(out.subject)
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = out.message_id
    if out.in_reply_to:
        msg["In-Reply-To"] = header_safe(out.in_reply_to)
        msg["References"] = header_safe(out.in_reply_to)
    msg["List-Unsubscribe"] = f"<{urls['unsubscribe']}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["X-CRM-Email-Id"] = out.email_id
    msg.set_content(text)
    msg.add_alternative(html_body, subtype="html")
    return msg, links
