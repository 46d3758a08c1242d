"""Bulk file formats: uploads read into numbered Rows, downloads written as byte chunks.

Both directions stream: memory stays bounded by one row and one chunk, never the file.
"""

from interlink.bulk.formats.csv_columns import NULL_CELL
from interlink.bulk.formats.detect import upload_kind
from interlink.bulk.formats.flattening import csv_header, flatten
from interlink.bulk.formats.reading import read_rows
from interlink.bulk.formats.rows import MAX_ROW_BYTES, InvalidFile, Kind, Row
from interlink.bulk.formats.writing import (
    csv_chunks,
    csv_download,
    json_array_chunks,
    ndjson_chunks,
    ndjson_records,
)

__all__ = [
    "MAX_ROW_BYTES",
    "NULL_CELL",
    "InvalidFile",
    "Kind",
    "Row",
    "csv_chunks",
    "csv_download",
    "csv_header",
    "flatten",
    "json_array_chunks",
    "ndjson_chunks",
    "ndjson_records",
    "read_rows",
    "upload_kind",
]
