"""RELIABILITY A5 pinned to the promise's own list: = + - @ TAB CR LF NUL never start an exported cell.

The property test checks against ``FORMULA_PREFIXES`` itself, so dropping a character from that
tuple would not fail it; this test names every character of the promise.
"""
import pytest

from crm_shared import validators as v

PROMISED = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")


@pytest.mark.parametrize("prefix", PROMISED, ids=["eq", "plus", "minus", "at", "tab", "cr", "lf", "nul"])
def test_every_promised_prefix_is_neutralised(prefix):
    cell = v.neutralize_spreadsheet_cell(prefix + "HYPERLINK(\"http://evil\")")
    assert cell.startswith("'") and not cell.startswith(PROMISED)


def test_the_export_quotes_every_field_and_neutralises_lf_and_nul_cells():
    from contacts import rules

    body = rules.export_csv([{"name": "\nSUM(1)", "company": "\0cmd", "position": "plain", "tags": []}])
    lines = [line for line in body.split("\r\n") if line]
    assert all(line.startswith('"') for line in lines)
    assert "\"'\nSUM(1)\"" in body and "\"'\0cmd\"" in body
