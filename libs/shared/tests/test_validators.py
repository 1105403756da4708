"""The field rules of seed 000 "Add Contact" and seed 001 "Data Validation Rules"."""
import pytest

from crm_shared import validators as v


@pytest.mark.parametrize("raw,expected", [
    ("+1 (555) 321-0987", "+15553210987"),
    ("+44 20 7946 0958", "+442079460958"),
    ("0044 20 7946 0958", "+442079460958"),
    ("(555) 123-4567", "+15551234567"),  # default region for numbers without a country code
])
def test_phone_is_stored_in_e164(raw, expected):
    assert v.validate_phone(raw) == expected


@pytest.mark.parametrize("raw", ["555-CALL-NOW", "12", "+1 555 abc", "++1"])
def test_bad_phones_are_invalid_format(raw):
    with pytest.raises(v.FieldError) as err:
        v.validate_phone(raw)
    assert err.value.kind == v.INVALID_FORMAT


def test_phone_country_code_can_be_required():
    with pytest.raises(v.FieldError):
        v.validate_phone("555 123 4567", require_country_code=True)
    assert v.validate_phone("+1 555 123 4567", require_country_code=True) == "+15551234567"


def test_email_is_normalised_and_checked():
    assert v.validate_email_address("  Sarah.Johnson@TechCorp.com ") == "sarah.johnson@techcorp.com"
    for bad in ("johnabc.com", "john@abc", "john@@abc.com", "a b@c.com"):
        with pytest.raises(v.FieldError) as err:
            v.validate_email_address(bad)
        assert err.value.kind == v.INVALID_FORMAT
    with pytest.raises(v.FieldError) as err:
        v.validate_email_address("")
    assert err.value.kind == v.MISSING_REQUIRED


def test_name_rules():
    assert v.validate_name("  José   O'Neil-Smith ") == "José O'Neil-Smith"
    with pytest.raises(v.FieldError):
        v.validate_name("J")  # seed 001: minimum 2 characters
    with pytest.raises(v.FieldError):
        v.validate_name("x" * (v.NAME_MAX + 1))
    with pytest.raises(v.FieldError):
        v.validate_name("R2D2")
    assert v.validate_name("", required=False) == ""


def test_name_key_ignores_case_accents_and_spacing():
    assert v.normalize_name_key("  José  ÁLVAREZ ") == v.normalize_name_key("jose alvarez")


def test_length_limits_of_seed_001():
    assert v.COMPANY_MAX == 150 and v.POSITION_MAX == 100 and v.ADDRESS_MAX == 300
    with pytest.raises(v.FieldError):
        v.validate_length("c" * 151, "company", v.COMPANY_MAX)


def test_tags_are_deduplicated_and_limited():
    assert v.validate_tags(["VIP", "vip", " Enterprise "]) == ["VIP", "Enterprise"]
    with pytest.raises(v.FieldError):
        v.validate_tags([f"t{i}" for i in range(v.TAGS_MAX_COUNT + 1)])
    with pytest.raises(v.FieldError):
        v.validate_tags(["x" * (v.TAG_MAX_LENGTH + 1)])
    with pytest.raises(v.FieldError):
        v.validate_tags(["<script>"])


def test_urls():
    assert v.validate_url("linkedin.com/in/sarah") == "https://linkedin.com/in/sarah"
    assert v.validate_url("https://twitter.com/x") == "https://twitter.com/x"
    for bad in ("javascript:alert(1)", "not a url", "ftp://x.com/y"):
        with pytest.raises(v.FieldError):
            v.validate_url(bad)


@pytest.mark.parametrize("cell", ["=1+1", "+SUM(A1)", "-2", "@cmd", "\tx", "\rx"])
def test_formula_cells_are_neutralised(cell):
    assert v.neutralize_spreadsheet_cell(cell).startswith("'")


def test_plain_cells_are_kept():
    assert v.neutralize_spreadsheet_cell("Acme") == "Acme"
    assert v.neutralize_spreadsheet_cell(None) == ""
