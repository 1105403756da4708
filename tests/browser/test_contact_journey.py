"""A new user's path through the web client in headless Chromium, against the real system.

Sign in, add a contact (a validation error from the API first, then fixed),
find it by search and filter, open its detail, add a note, log a call and send
an email (seen in the SMTP sink and the Communication tab).
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from crm_shared.smtp_sink import read_messages
from tests.browser.helpers import letters, login, unique, wait_until

pytestmark = pytest.mark.browser

TABS = ["Campaigns", "Communication", "Segments", "Activity", "Notes", "Enrichment", "AI", "Buying Signals"]


def test_new_user_adds_finds_and_works_a_contact(page, api, web_system, shot):
    marketing = api.as_role("marketing")
    tag = unique()
    last = f"Lovelace{letters(tag).lower()}"
    email = f"ada.{tag}@example.com"
    template = marketing.post("/api/v1/templates", json={
        "name": f"Intro {tag}", "category": "Sales", "subject": "Hello {first_name} from {sender_name}",
        "body": "Hi {first_name},\nhow is {company_name} doing?\n{sender_name}"})
    assert template.status_code == 201, template.text

    # sign in
    login(page, "marketing")
    expect(page).to_have_url(re.compile(r"/contacts"))
    expect(page.get_by_test_id("kpi-Total Contacts")).not_to_have_text("–")
    shot(page, "01-contacts-list")

    # add a contact: the API refuses the email, the form shows why next to the field
    page.get_by_role("link", name="+ Add Contact").first.click()
    page.get_by_label("First Name").fill("Ada")
    page.get_by_label("Last Name").fill(last)
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_label("Phone").fill("+1 555 321 0987")
    page.get_by_label("Company", exact=True).fill(f"Analytical {tag}")
    page.get_by_label("Position").fill("CTO")
    page.get_by_label("Stage").select_option("Qualified")
    expect(page.get_by_test_id("preview-name")).to_have_text(f"Ada {last}")
    page.get_by_role("button", name="Create Contact").click()
    email_error = page.locator(".field.has-error").filter(has=page.get_by_label("Email")).locator(".field-error")
    expect(email_error).to_be_visible()
    assert email_error.inner_text().strip()
    shot(page, "02-add-contact-validation-error")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Create Contact").click()
    expect(page.get_by_role("heading", name=f"Ada {last}")).to_be_visible()
    expect(page.get_by_text(f"CTO at Analytical {tag}")).to_be_visible()

    # find it by search, then by filter
    page.get_by_role("link", name="Back to Contacts").click()
    page.get_by_role("searchbox", name=re.compile("Search contacts")).fill(last)
    page.get_by_role("button", name="Search", exact=True).click()
    rows = page.get_by_test_id("contact-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"Ada {last}")
    page.get_by_label("Stage", exact=True).select_option("Qualified")
    expect(rows).to_have_count(1)
    page.get_by_label("Stage", exact=True).select_option("Lost")
    expect(rows).to_have_count(0)
    expect(page.get_by_text("No contacts match these filters")).to_be_visible()
    page.get_by_label("Stage", exact=True).select_option("Qualified")
    expect(rows).to_have_count(1)

    # its detail: header, tabs in the seed's order
    rows.first.get_by_role("link", name=f"Ada {last}").click()
    expect(page.get_by_role("heading", name=f"Ada {last}")).to_be_visible()
    tab_names = [t.strip() for t in page.get_by_role("tab").all_inner_texts()]
    assert [re.sub(r"^\W+\s*|Phase 2$", "", t).strip() for t in tab_names] == TABS
    expect(page.get_by_role("button", name=re.compile("Enrich Contact"))).to_be_disabled()
    shot(page, "03-contact-detail")

    # a note with Ctrl+Enter
    page.get_by_role("tab", name=re.compile("Notes")).click()
    note = page.get_by_placeholder("Add a new note... (Ctrl+Enter to save)")
    note.fill(f"Interested in the enterprise package {tag}")
    expect(page.get_by_text(re.compile(r"\d+/2000 characters"))).to_be_visible()
    note.press("Control+Enter")
    expect(page.get_by_test_id("notes-list")).to_contain_text(f"Interested in the enterprise package {tag}")
    expect(note).to_have_value("")

    # log a call: purpose, script and tips, outcome
    quick = page.get_by_role("complementary", name="Quick Actions")
    quick.get_by_role("button", name=re.compile(r"^\W*Call$")).click()
    page.get_by_role("button", name=re.compile("Discovery Call")).click()
    expect(page.get_by_role("heading", name=re.compile("call script"))).to_be_visible()
    expect(page.get_by_role("heading", name="Quick tips")).to_be_visible()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Call status").select_option("Completed")
    dialog.get_by_label("Call notes").fill(f"Discussed rollout {tag}")
    shot(page, "04-call-modal")
    dialog.get_by_role("button", name="Log Call").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    page.get_by_role("tab", name=re.compile("Communication")).click()
    expect(page.get_by_test_id("comm-entry").filter(has_text="Discovery Call")).to_be_visible()

    # send an email from a template: preview fills merge fields
    quick.get_by_role("button", name=re.compile(r"^\W*Email$")).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("tab", name="Sales").click()
    dialog.get_by_role("radio", name=re.compile(f"Intro {tag}")).click()
    expect(dialog.get_by_role("radio", name=re.compile(f"Intro {tag}"))).to_contain_text("Open rate")
    dialog.get_by_role("button", name="Preview").click()
    expect(dialog.get_by_test_id("preview-subject")).to_have_text(re.compile(r"^Hello Ada from "))
    expect(dialog.get_by_test_id("preview-body")).to_contain_text(f"how is Analytical {tag} doing?")
    shot(page, "05-email-preview")
    dialog.get_by_role("button", name="Send Email").click()
    expect(page.get_by_role("dialog")).to_have_count(0)

    def delivered():
        return [m for m in read_messages(web_system.mail_dir) if email in str(m.get("To", ""))]

    messages = wait_until(delivered, timeout=30, what="the email in the SMTP sink")
    assert messages[0]["Subject"].startswith("Hello Ada from")

    def in_tab():
        page.get_by_role("button", name="Refresh communications").click()
        return page.get_by_test_id("comm-entry").filter(has_text="Hello Ada from").count() > 0

    wait_until(in_tab, timeout=30, interval=1.0, what="the email in the Communication tab")
    shot(page, "06-communication-tab")


def test_hot_lead_detail_has_pink_background_and_alert(page, api, shot):
    marketing = api.as_role("marketing")
    tag = unique()
    contact = marketing.post("/api/v1/contacts", json={
        "first_name": "David", "last_name": f"Thompson{letters(tag).lower()}", "email": f"d.{tag}@futuretech.net",
        "position": "CEO", "company": "FutureTech Industries", "stage": "Hot Lead",
        "tags": ["Enterprise", "CEO", "Utility"]})
    assert contact.status_code == 201, contact.text
    login(page, "sales")
    page.goto(f"/contacts/{contact.json()['id']}")
    expect(page.get_by_test_id("hot-lead-alert")).to_be_visible()
    expect(page.get_by_test_id("hot-lead-alert")).to_contain_text("HOT LEAD ALERT")
    background = page.get_by_test_id("detail-page").evaluate("el => getComputedStyle(el).backgroundColor")
    assert background == "rgb(254, 242, 242)"
    # sales does not own it (marketing created it, unassigned): no edit
    expect(page.get_by_role("button", name=re.compile("Edit Contact"))).to_be_disabled()
    shot(page, "07-hot-lead-detail")


def test_phone_width_layout(browser, web_system, api, shot):
    marketing = api.as_role("marketing")
    tag = unique()
    created = marketing.post("/api/v1/contacts", json={"first_name": "Mia", "last_name": f"Phone{letters(tag).lower()}",
                                                       "email": f"mia.{tag}@example.com", "tags": ["a", "b", "c"]})
    assert created.status_code == 201, created.text
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=web_system.base_url,
                                  is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        login(page, "marketing")
        menu = page.get_by_role("button", name="Menu")
        expect(menu).to_be_visible()
        expect(page.get_by_role("navigation", name="Main")).to_be_hidden()
        menu.click()
        expect(page.get_by_role("navigation", name="Main")).to_be_visible()
        menu.click()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways at phone width ({width}px)"
        shot(page, "08-phone-contacts")
        page.goto(f"/contacts/{created.json()['id']}")
        expect(page.get_by_role("heading", name=f"Mia Phone{letters(tag).lower()}")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot(page, "09-phone-detail")
    finally:
        context.close()
