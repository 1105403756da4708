"""Import with duplicates through all 5 wizard steps, building a segment, and what an executive cannot do."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import create_contact, letters, login, unique, wait_until

pytestmark = pytest.mark.browser


def test_import_with_duplicates_through_the_five_steps(page, api, shot, tmp_path):
    marketing = api.as_role("marketing")
    tag = unique()
    name = letters(tag).lower()
    existing = create_contact(marketing, first_name="Grace", last_name=f"Hopper{name}", email=f"grace.{tag}@navy.mil",
                              company=f"Navy {tag}")
    csv = tmp_path / "contacts.csv"
    csv.write_text(
        "Name,Email,Phone,Company,Position,Tags\n"
        f"Grace Hopper{name},grace.{tag}@navy.mil,+1 555 100 2000,Navy {tag},Rear Admiral,\"navy,cobol\"\n"
        f"Alan Turing{name},alan.{tag}@bletchley.uk,+44 20 7946 0958,Bletchley {tag},Mathematician,enigma\n"
        f"Broken Row{name},not-an-email,,Nowhere,,\n",
        encoding="utf-8")

    login(page, "marketing")
    page.get_by_role("link", name="Import", exact=True).click()
    steps = page.get_by_role("list", name="Import progress")
    expect(steps.locator("li")).to_have_count(5)
    expect(page.get_by_text("Popular")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("HubSpot"))).to_be_disabled()
    shot(page, "10-import-step1-method")

    page.get_by_role("button", name=re.compile("CSV File")).click()
    expect(page.locator(".required-label")).to_have_count(2)
    expect(page.get_by_text("Drop your CSV file here or click to browse files").first).to_be_visible()
    page.get_by_test_id("file-input").set_input_files(str(csv))
    expect(page.get_by_text("contacts.csv is ready for import")).to_be_visible()
    shot(page, "11-import-step2-upload")
    page.get_by_role("button", name="Upload & Continue").click()
    expect(page.get_by_label("Field for column Email")).to_have_value("email")
    expect(page.get_by_label("Field for column Name")).to_have_value("name")
    page.get_by_role("button", name="Start Import").click()

    expect(page.get_by_role("heading", name="Review Duplicate Contacts")).to_be_visible(timeout=60_000)
    pairs = page.get_by_test_id("dup-pair")
    expect(pairs).to_have_count(1)
    expect(pairs.first.get_by_test_id("confidence")).to_have_text(re.compile(r"^(100|95)%$"))
    expect(pairs.first).to_contain_text(f"Hopper{name}")
    page.get_by_label("Filter by match type").select_option("phone")
    expect(pairs).to_have_count(0)
    page.get_by_label("Filter by match type").select_option("")
    expect(pairs).to_have_count(1)
    shot(page, "12-import-step4-duplicates")
    pairs.first.get_by_role("button", name="Merge").click()
    expect(pairs.first.get_by_role("button", name="Merge")).to_have_attribute("aria-pressed", "true")
    page.get_by_role("button", name="Import Contacts").click()

    expect(page.get_by_role("heading", name="Import Complete!")).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("sum-total")).to_have_text("3")
    expect(page.get_by_test_id("sum-imported")).to_have_text("1")
    expect(page.get_by_test_id("sum-merged")).to_have_text("1")
    expect(page.get_by_test_id("sum-failed")).to_have_text("1")
    expect(page.get_by_text("Some contacts couldn't be imported.")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download Error Report").click()
    report = download.value.path().read_text()
    assert "not-an-email" in report
    shot(page, "13-import-step5-summary")

    page.get_by_role("button", name="View Contacts").click()
    expect(page).to_have_url(re.compile(r"import_id="))
    expect(page.get_by_test_id("contact-row").filter(has_text=f"Alan Turing{name}")).to_be_visible()
    merged = marketing.get(f"/api/v1/contacts/{existing['id']}").json()
    assert merged["phone"], "the merge filled the missing phone from the file"


def test_marketing_builds_a_segment_with_live_count(page, api, shot):
    marketing = api.as_role("marketing")
    tag = unique()
    company = f"Segmented {tag}"
    for _ in range(2):
        create_contact(marketing, company=company, company_size=500)
    create_contact(marketing, company=company, company_size=50)

    login(page, "marketing")
    page.get_by_role("link", name="Segments", exact=True).click()
    page.get_by_role("button", name="+ New Segment").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill(f"Big {tag}")
    row = dialog.get_by_test_id("crit-row").first
    row.get_by_label("Field").select_option("company")
    row.get_by_label("Operator").select_option("eq")
    row.get_by_label("Value").fill(company)
    expect(dialog.get_by_test_id("preview-count")).to_have_text("3 matching contacts", timeout=15_000)
    dialog.get_by_role("button", name="+ Condition").click()
    second = dialog.get_by_test_id("crit-row").nth(1)
    second.get_by_label("Field").select_option("company_size")
    second.get_by_label("Operator").select_option("gt")
    second.get_by_label("Value").fill("100")
    expect(dialog.get_by_test_id("preview-count")).to_have_text("2 matching contacts", timeout=15_000)
    dialog.get_by_role("button", name="OR").click()
    expect(dialog.get_by_test_id("preview-count")).not_to_have_text("2 matching contacts", timeout=15_000)
    dialog.get_by_role("button", name="AND").click()
    expect(dialog.get_by_test_id("preview-count")).to_have_text("2 matching contacts", timeout=15_000)
    shot(page, "14-segment-builder")
    dialog.get_by_role("button", name="Save Segment").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    segment_row = page.get_by_role("row").filter(has_text=f"Big {tag}")
    expect(segment_row).to_be_visible()

    def counted():
        page.reload()
        return segment_row.get_by_test_id("segment-count").inner_text() == "2 contacts"

    wait_until(counted, timeout=30, interval=1.0, what="the segment's member count")
    shot(page, "15-segments-list")
    segment_row.get_by_test_id("segment-count").click()
    expect(page.get_by_test_id("contact-row")).to_have_count(2)


def test_executive_reads_but_cannot_change(page, api, shot):
    marketing = api.as_role("marketing")
    contact = create_contact(marketing, stage="Qualified")

    login(page, "executive")
    expect(page).to_have_url(re.compile(r"/dashboard"))
    expect(page.get_by_text("AI score distribution")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Contacts by stage")).to_be_visible()
    shot(page, "16-executive-dashboard")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Import")).to_have_count(0)
    expect(nav.get_by_role("link", name="Scoring")).to_have_count(0)

    page.goto("/contacts")
    expect(page.get_by_test_id("contact-row").first).to_be_visible()
    expect(page.get_by_role("link", name="+ Add Contact")).to_have_count(0)
    page.get_by_role("checkbox", name=re.compile("Select all")).check()
    expect(page.get_by_text("Read-only role: no bulk changes.")).to_be_visible()
    expect(page.get_by_role("button", name="Delete")).to_have_count(0)

    page.goto(f"/contacts/{contact['id']}")
    expect(page.get_by_role("heading", name=f"{contact['first_name']} {contact['last_name']}")).to_be_visible()
    quick = page.get_by_role("complementary", name="Quick Actions")
    for action in ("Edit Contact", "Email", "Call", "Create Follow Up", "Add to Segment", "Add Notes"):
        expect(quick.get_by_role("button", name=re.compile(rf"^\W*{action}$"))).to_be_disabled()
    expect(page.get_by_role("button", name="New Message")).to_have_count(0)
    expect(page.get_by_label("Change stage")).to_have_count(0)
    page.get_by_role("tab", name=re.compile("Notes")).click()
    expect(page.get_by_placeholder("Add a new note... (Ctrl+Enter to save)")).to_have_count(0)
    shot(page, "17-executive-detail")

    page.goto(f"/contacts/{contact['id']}/edit")
    expect(page.get_by_text("You do not have permission to edit this contact.")).to_be_visible()
    page.goto("/import")
    expect(page.get_by_text("Your role cannot import contacts.")).to_be_visible()
    page.goto("/scoring")
    expect(page.get_by_text("Only admins manage the scoring model and rules.")).to_be_visible()
    # the API agrees with what the screen shows
    executive = api.as_role("executive")
    refused = executive.patch(f"/api/v1/contacts/{contact['id']}", json={"stage": "Lost"})
    assert refused.status_code == 403
