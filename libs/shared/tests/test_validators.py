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


def _email_validator_answer(raw):
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(v.normalize_email(raw), check_deliverability=False)
    except EmailNotValidError:
        return None
    return result.normalized.lower() if "." in result.domain else None


@pytest.mark.parametrize("raw", ["john@example.com", " John.Doe+tag@Sub.Example.co.uk ", "a_b-c@x-y.io",
                                 "o'neil@example.ie", "x@localhost", "a..b@example.com", "a@-x.com",
                                 "jörg@example.de", "a@example.c", "a@x.test", "b@mail.local", "c@y.example",
                                 "\"quoted\"@example.com", "a@b@c.com", "a" * 65 + "@example.com"])
def test_the_plain_email_fast_path_gives_email_validators_answer(raw):
    fast = v._plain_email(v.normalize_email(raw))
    assert fast is None or fast == _email_validator_answer(raw)
    try:
        answer = v.validate_email_address(raw)
    except v.FieldError:
        answer = None
    assert answer == _email_validator_answer(raw)


@pytest.mark.parametrize("raw", ["+1 555-123-4567", "(555) 123-4567", "555.123.4567", "1-555-123-4567",
                                 "+1 (415) 555-0100", "+15551234567", "+44 20 7946 0958", "0044 20 7946 0958",
                                 "555-1234", "+1 555 123 456", "12345678901", "+1+5551234567"])
def test_the_north_american_fast_path_gives_phonenumbers_answer(raw):
    import phonenumbers

    fast = v._plain_nanp_phone(v.normalize_text(raw), "US")
    if fast is not None:
        parsed = phonenumbers.parse(raw, None if raw.startswith("+") else "US")
        assert phonenumbers.is_possible_number(parsed)
        assert fast == phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    assert v._plain_nanp_phone("5551234567", "GB") is None   # 10 bare digits are North American only in the US


def test_the_display_form_of_north_american_numbers_is_phonenumbers_international_form():
    import random

    import phonenumbers

    rng = random.Random(7)
    numbers = ["+1" + rng.choice("23456789") + "".join(rng.choice("0123456789") for _ in range(9))
               for _ in range(2000)] + ["+10962216614", "+11804933128", "+442079460958", "+1555"]
    for e164 in numbers:
        expected = phonenumbers.format_number(phonenumbers.parse(e164, None),
                                              phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        assert v.format_phone_international(e164) == expected, e164
