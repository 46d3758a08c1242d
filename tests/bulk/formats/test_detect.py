"""upload_kind: the declared format, else the filename, else the content type, else a sniff."""

from __future__ import annotations

import pytest

from interlink.bulk.formats import Kind, upload_kind
from interlink.errors import InvalidInput


@pytest.mark.parametrize("declared", ["csv", "ndjson", "json"])
def test_a_declared_format_wins_over_everything(declared: Kind) -> None:
    assert upload_kind("x.json", "application/json", b"[1]", declared) == declared
    assert upload_kind(None, None, b"", declared) == declared


@pytest.mark.parametrize("declared", ["xml", "CSV", "", " csv"])
def test_an_unknown_declared_format_is_invalid_metadata(declared: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        upload_kind("x.csv", "text/csv", b"a,b", declared)
    assert caught.value.field == "metadata.format"
    assert repr(declared) in caught.value.detail
    assert '"csv", "ndjson", "json"' in caught.value.detail


@pytest.mark.parametrize(
    ("filename", "kind"),
    [
        ("contacts.csv", "csv"),
        ("CONTACTS.CSV", "csv"),
        ("a.b.ndjson", "ndjson"),
        ("lines.jsonl", "ndjson"),
        ("lines.JsonL", "ndjson"),
        ("array.json", "json"),
        ("dir/array.json", "json"),
    ],
)
def test_the_filename_extension_comes_before_the_content_type(filename: str, kind: Kind) -> None:
    assert upload_kind(filename, "text/plain", b"{", None) == kind
    other = "application/json" if kind != "json" else "text/csv"
    assert upload_kind(filename, other, b"{", None) == kind


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("text/csv", "csv"),
        ("text/csv; charset=utf-8", "csv"),
        ("Text/CSV", "csv"),
        ("application/x-ndjson", "ndjson"),
        ("application/jsonl", "ndjson"),
        ("application/json", "json"),
        (" application/json ;charset=UTF-8", "json"),
    ],
)
@pytest.mark.parametrize("filename", [None, "", "upload", "data.txt", "archive.", ".csvx"])
def test_without_a_known_extension_the_content_type_says(
    filename: str | None, content_type: str, kind: Kind
) -> None:
    head = b"[" if kind != "json" else b"a,b"  # the sniff would say otherwise
    assert upload_kind(filename, content_type, head, None) == kind


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"[", "json"),
        (b'[{"a": 1}]', "json"),
        (b' \r\n\t [{"a": 1}]', "json"),
        (b'\xef\xbb\xbf[{"a": 1}]', "json"),
        (b'\xef\xbb\xbf\n  {"a": 1}', "ndjson"),
        (b'{"a": 1}\n{"a": 2}\n', "ndjson"),
        (b"a,b\n1,2\n", "csv"),
        (b'"quoted header",b\n', "csv"),
        (b"", "csv"),
        (b" \n\t", "csv"),
        (b"\xef\xbb\xbf", "csv"),
        (b"\xef\xbb", "csv"),
        (b"\x00[", "csv"),
    ],
)
@pytest.mark.parametrize("content_type", [None, "", "application/octet-stream", "text/plain"])
def test_otherwise_the_first_meaningful_byte_is_sniffed(
    head: bytes, kind: Kind, content_type: str | None
) -> None:
    assert upload_kind("upload.dat", content_type, head, None) == kind
    assert upload_kind(None, content_type, head, None) == kind
