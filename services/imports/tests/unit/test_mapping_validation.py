"""Column mapping synonyms and the seed 001 validation rules, one rule per test."""
import pytest

from crm_shared.errors import ValidationFailed
from imports import mapping, validation


@pytest.mark.parametrize(("headers", "expected"), [
    (["Name", "Email", "Phone", "Company", "Position", "Address", "Tags"],
     ["name", "email", "phone", "company", "position", "address", "tags"]),
    (["First Name", "Last Name", "Email", "Phone Number", "Company Name", "Job Title", "Lifecycle Stage"],
     ["first_name", "last_name", "email", "phone", "company", "position", "type"]),          # HubSpot
    (["First Name", "Last Name", "Email", "Phone", "Account Name", "Title", "Mailing City", "Lead Source"],
     ["first_name", "last_name", "email", "phone", "company", "position", "city", "channel"]),  # Salesforce
    (["First Name", "Last Name", "E-mail Address", "E-mail 2 Address", "Business Phone", "Mobile Phone",
      "Company", "Job Title", "Categories"],
     ["first_name", "last_name", "email", "emails", "phone", "phones", "company", "position", "tags"]),  # Outlook
    (["Given Name", "Family Name", "E-mail 1 - Value", "Phone 1 - Value", "Organization 1 - Name",
      "Organization 1 - Title", "Group Membership"],
     ["first_name", "last_name", "email", "phone", "company", "position", "tags"]),            # Gmail
    (["EMAIL", "full_name", "Favourite Colour"], ["email", "name", None]),
])
def test_auto_mapping_of_known_exports(headers, expected):
    assert list(mapping.auto_map(headers).values()) == expected


def test_missing_required_columns():
    assert mapping.missing_required({"Email": "email"}) == ["name"]
    assert mapping.missing_required({"First": "first_name", "Mail": "email"}) == []
    assert mapping.missing_required({"Name": "name"}) == ["email"]


def test_check_mapping_names_each_bad_column():
    with pytest.raises(ValidationFailed) as caught:
        mapping.check_mapping(["A", "B"], {"A": "email", "B": "email", "C": "name"})
    problems = caught.value.details["fields"]["mapping"]
    assert set(problems) == {"B", "C"}
    with pytest.raises(ValidationFailed):
        mapping.check_mapping(["A"], {"A": "shoe_size"})
    assert mapping.check_mapping(["A", "B"], {"A": "email", "B": None}) == {"A": "email", "B": None}


def test_template_has_every_seed_column_and_example_rows():
    lines = mapping.template_csv().splitlines()
    assert lines[0].startswith("Name,Email,Phone,Company,Position,Address,Tags")
    assert len(lines) == 4


HEADERS = ["Name", "Email", "Phone", "Company", "Position", "Address", "Tags"]
MAP = mapping.auto_map(HEADERS)


def _check(**values):
    cells = [values.get(h.lower(), "") for h in HEADERS]
    return validation.validate_row(HEADERS, cells, MAP)


def test_a_good_row_is_normalised():
    result = _check(name="John Doe", email=" John@Example.COM ", phone="+1 555-123-4567", company="Acme Corp",
                    position="Sales Manager", address="123 Main St, City, State", tags="prospect, enterprise")
    assert result.valid
    assert result.fields == {"first_name": "John", "last_name": "Doe", "email": "john@example.com",
                             "phone": "+15551234567", "company": "Acme Corp", "position": "Sales Manager",
                             "address": {"street": "123 Main St, City, State"}, "tags": ["prospect", "enterprise"]}


@pytest.mark.parametrize(("values", "field", "kind"), [
    ({"name": "John Doe"}, "email", "missing_required"),
    ({"email": "a@example.com"}, "name", "missing_required"),
    ({"name": "J", "email": "a@example.com"}, "name", "invalid_format"),
    ({"name": "Madonna", "email": "a@example.com"}, "name", "missing_required"),
    ({"name": "John Doe", "email": "johnabc.com"}, "email", "invalid_format"),
    ({"name": "John Doe", "email": "john@localhost"}, "email", "invalid_format"),
    ({"name": "John Doe", "email": "j@example.com", "phone": "555-ABC-1234"}, "phone", "invalid_format"),
    ({"name": "John Doe", "email": "j@example.com", "company": "C" * 151}, "company", "invalid_format"),
    ({"name": "John Doe", "email": "j@example.com", "position": "P" * 101}, "position", "invalid_format"),
    ({"name": "John Doe", "email": "j@example.com", "address": "A" * 301}, "address", "invalid_format"),
    ({"name": "John Doe", "email": "j@example.com", "tags": "ok,<script>"}, "tags", "invalid_format"),
])
def test_each_validation_rule(values, field, kind):
    result = _check(**values)
    assert not result.valid and result.fields == {}
    error = next(e for e in result.errors if e["field"] == field)
    assert error["type"] == kind
    assert error["message"] and error["fix"]


def test_limits_at_the_boundary_are_accepted():
    assert _check(name="Jo Li", email="j@example.com", company="C" * 150, position="P" * 100,
                  address="A" * 300).valid


def test_international_phone_formats_are_accepted():
    for phone in ("+44 20 7946 0958", "(555) 123-4567", "+49 (30) 123456-78", "0049 30 12345678"):
        assert _check(name="Ann Lee", email="a@example.com", phone=phone).valid, phone


def test_extra_values_beyond_the_header_reject_the_row():
    result = validation.validate_row(["Name", "Email"], ["Ann Lee", "a@example.com", "surplus"],
                                     mapping.auto_map(["Name", "Email"]))
    assert not result.valid
    assert result.errors[0]["field"] == "(row)"


def test_first_and_last_name_columns_and_comma_names():
    headers = ["First Name", "Last Name", "Email"]
    result = validation.validate_row(headers, ["Mary Ann", "Smith", "m@example.com"], mapping.auto_map(headers))
    assert (result.fields["first_name"], result.fields["last_name"]) == ("Mary Ann", "Smith")
    assert validation.split_name("Doe, John") == ("John", "Doe")


@pytest.mark.parametrize("raw", ["john@example.com", " John.Doe+tag@Sub.Example.co.uk ", "a..b@example.com",
                                 "jörg@example.de", "a@x.test", "\"quoted\"@example.com", "a@b@c.com"])
def test_a_row_email_is_the_shared_validators_answer(raw):
    from crm_shared import validators as v

    try:
        expected = v.validate_email_address(raw)
    except v.FieldError:
        expected = None
    headers = ["Name", "Email"]
    result = validation.validate_row(headers, ["Ann Lee", raw], mapping.auto_map(headers))
    assert result.fields.get("email") == expected


def test_template_offers_every_supported_field_and_valid_rows():
    """Seed 001: the sample template has every supported column, each mapped automatically."""
    import csv
    import io

    from imports import mapping as m
    from imports.validation import validate_row

    rows = list(csv.reader(io.StringIO(m.template_csv())))
    headers = rows[0]
    mapped = m.auto_map(headers)
    assert set(m.FIELDS) == {target for target in mapped.values() if target}
    for cells in rows[1:]:
        assert len(cells) == len(headers)
        assert validate_row(headers, cells, mapped).errors == []
