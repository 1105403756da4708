"""Reading messy real-world CSV files (issue 4 "Reading real-world files", RELIABILITY I5)."""
import pytest

from imports import reader


def test_utf8_bom_never_leaks_into_the_first_header():
    parsed = reader.parse("\ufeffName,Email\nAnn Lee,ann@example.com\n".encode())
    assert parsed.headers == ["Name", "Email"]
    assert parsed.encoding == "utf-8-sig"


def test_windows_1252_falls_back_and_keeps_accents():
    parsed = reader.parse("Name,Email\nJosé Müller – Ø,j@example.com\n".encode("cp1252"))
    assert parsed.encoding == "cp1252"
    assert parsed.rows[0].cells[0] == "José Müller – Ø"


def test_latin1_bytes_undefined_in_cp1252_still_decode():
    parsed = reader.parse(b"Name,Email\nA\x81b Cd,a@example.com\n")
    assert parsed.encoding == "latin-1"


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(delimiter):
    text = delimiter.join(["Name", "Email", "Company"]) + "\n" + delimiter.join(["Ann Lee", "a@x.com", "Acme"]) + "\n"
    parsed = reader.parse(text.encode())
    assert parsed.delimiter == delimiter
    assert parsed.rows[0].cells == ["Ann Lee", "a@x.com", "Acme"]


def test_semicolon_file_with_commas_inside_fields():
    text = "Name;Email;Address\nAnn Lee;a@x.com;1 Main St, Springfield\nBo Ek;b@x.com;2 Elm St, Dover\n"
    parsed = reader.parse(text.encode())
    assert parsed.delimiter == ";"
    assert parsed.rows[1].cells[2] == "2 Elm St, Dover"


def test_quoted_newlines_quotes_and_commas_round_trip_with_source_lines():
    text = 'Name,Email,Notes\n"Lee, Ann",a@x.com,"line one\nline ""two"", end"\nBo Ek,b@x.com,\n'
    parsed = reader.parse(text.encode())
    assert parsed.rows[0].cells == ["Lee, Ann", "a@x.com", 'line one\nline "two", end']
    assert [r.line for r in parsed.rows] == [2, 4]


def test_blank_lines_are_skipped_and_rows_keep_their_source_line():
    parsed = reader.parse(b"Name,Email\n\nAnn Lee,a@x.com\n,,\n\nBo Ek,b@x.com\n")
    assert [(r.row, r.line) for r in parsed.rows] == [(1, 3), (2, 6)]


def test_trailing_empty_columns_are_dropped():
    parsed = reader.parse(b"Name,Email,,\nAnn Lee,a@x.com,,\n")
    assert parsed.headers == ["Name", "Email"]
    assert parsed.rows[0].cells == ["Ann Lee", "a@x.com"]


def test_duplicate_and_missing_headers_are_renamed_with_warnings():
    parsed = reader.parse(b"Name,Email,,Email\nAnn Lee,a@x.com,x,b@x.com\n")
    assert parsed.headers == ["Name", "Email", "Column 3", "Email (2)"]
    assert len(parsed.warnings) == 2


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "empty"),
    (b"PK\x03\x04\x14\x00rest-of-zip", "ZIP"),
    (b"%PDF-1.7\n...", "PDF"),
    (b"Name,Email\x00\x01\x02binary", "binary"),
    (b"just some prose without any delimiter\nmore prose\n", "fewer than two columns"),
    (b"Name,Email\n", "no data rows"),
    (b'Name,Email\n"Ann Lee,a@x.com\nBo Ek,b@x.com\n', "never closed"),
])
def test_not_csv_is_refused_with_a_reason(data, reason):
    with pytest.raises(reader.NotCsv) as caught:
        reader.parse(data)
    assert reason in caught.value.reason


def test_a_single_ten_megabyte_quoted_field_is_refused():
    data = b'Name,Email\n"' + b"x" * (reader.MAX_BYTES - 20)
    with pytest.raises(reader.NotCsv) as caught:
        reader.parse(data)
    assert "unmatched quote" in caught.value.reason


def test_row_limit():
    data = ("Name,Email\n" + "Ann Lee,a@x.com\n" * 11).encode()
    with pytest.raises(reader.TooManyRows):
        reader.parse(data, max_rows=10)
    assert len(reader.parse(data[: -len("Ann Lee,a@x.com\n")], max_rows=10).rows) == 10


def test_file_over_ten_megabytes_is_refused():
    with pytest.raises(reader.NotCsv):
        reader.parse(b"a,b\n" + b"x,y\n" * (reader.MAX_BYTES // 4 + 1))


def test_mostly_utf8_with_a_broken_byte_is_refused_not_stored_as_mojibake():
    with pytest.raises(reader.NotCsv) as caught:
        reader.parse("Name,Email\nJosé Müller,j@example.com\n".encode() + b"Bad \xe9 Byte,b@example.com\n")
    assert "not valid UTF-8" in caught.value.reason and caught.value.line == 3
