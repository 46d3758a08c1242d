"""Download (query) jobs: a vendor's records, selected by CEQL, into one NDJSON file."""
