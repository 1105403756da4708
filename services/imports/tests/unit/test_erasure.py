"""Cutting an erased address out of a stored upload (G1)."""
from __future__ import annotations

from imports.erasure import strip_lines


def test_lines_quoting_the_address_are_removed_in_any_case():
    data = "Name,Email\r\nAnn,ANN@x.example\r\nBob,bob@x.example\r\n".encode("utf-16")
    stripped = strip_lines(data, "utf-16", ["ann@x.example"])
    assert stripped.decode("utf-16") == "Name,Email\r\nBob,bob@x.example\r\n"


def test_a_file_without_the_address_is_unchanged():
    data = b"Name,Email\nBob,bob@x.example\n"
    assert strip_lines(data, "utf-8", ["ann@x.example"]) == data
