"""`INTERLINK_FILE_STORE` picks the file store: the data folder by default, S3 later."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlink.errors import ConfigurationError
from interlink.files import LocalFileStore, file_store_from_settings
from interlink.settings import Settings


@pytest.mark.parametrize("file_store", [None, "", "  "])
def test_unset_means_files_in_the_data_folder(tmp_path: Path, file_store: str | None) -> None:
    store = file_store_from_settings(Settings(data_dir=tmp_path / "data", file_store=file_store))

    assert isinstance(store, LocalFileStore)
    assert store.root == tmp_path / "data" / "files"
    assert not (tmp_path / "data").exists()  # created on the first write, not before


async def test_the_default_store_works(tmp_path: Path) -> None:
    store = file_store_from_settings(Settings(data_dir=tmp_path, file_store=None))
    await store.write("bulk/bulk_1/data.ndjson", b"{}\n")
    assert (tmp_path / "files" / "bulk" / "bulk_1" / "data.ndjson" / "part-000001").is_file()


@pytest.mark.parametrize("file_store", ["s3://bucket/prefix", "s3://bucket", "S3://Bucket/x"])
def test_s3_is_not_there_yet(tmp_path: Path, file_store: str) -> None:
    settings = Settings(data_dir=tmp_path, file_store=file_store)
    with pytest.raises(ConfigurationError, match=r"distributed deployment \(issue 5\)"):
        file_store_from_settings(settings)


@pytest.mark.parametrize("file_store", ["/var/files", "file:///var/files", "gs://bucket"])
def test_anything_else_is_refused(tmp_path: Path, file_store: str) -> None:
    settings = Settings(data_dir=tmp_path, file_store=file_store)
    with pytest.raises(ConfigurationError, match="expected s3://bucket/prefix"):
        file_store_from_settings(settings)
