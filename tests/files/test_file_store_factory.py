"""`INTERLINK_FILE_STORE` picks the file store: the data folder by default, or S3."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlink.errors import ConfigurationError
from interlink.files import LocalFileStore, S3FileStore, file_store_from_settings
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


@pytest.mark.parametrize(
    ("file_store", "bucket", "prefix"),
    [
        ("s3://bucket/prefix", "bucket", "prefix"),
        ("s3://bucket", "bucket", ""),
        ("s3://bucket/", "bucket", ""),
        ("S3://my.bucket-1/a/b/", "my.bucket-1", "a/b"),
        (" s3://bucket/interlink/files ", "bucket", "interlink/files"),
    ],
)
def test_s3_bucket_and_prefix(tmp_path: Path, file_store: str, bucket: str, prefix: str) -> None:
    store = file_store_from_settings(Settings(data_dir=tmp_path, file_store=file_store), environ={})

    assert isinstance(store, S3FileStore)
    assert (store.bucket, store.prefix) == (bucket, prefix)
    assert store.endpoint_url is None
    assert store.region == "us-east-1"
    assert store.object_key("bulk/1/data", 3) == "/".join(
        [*([prefix] if prefix else []), "bulk/1/data/part-000003"]
    )
    assert not tmp_path.joinpath("files").exists()


@pytest.mark.parametrize(
    ("environ", "endpoint", "region"),
    [
        (
            {"AWS_ENDPOINT_URL": "http://minio:9000", "AWS_REGION": "eu-west-3"},
            "http://minio:9000",
            "eu-west-3",
        ),
        ({"AWS_DEFAULT_REGION": "ap-south-1"}, None, "ap-south-1"),
        ({"AWS_REGION": "eu-west-3", "AWS_DEFAULT_REGION": "ap-south-1"}, None, "eu-west-3"),
        ({"AWS_ENDPOINT_URL": " ", "AWS_REGION": ""}, None, "us-east-1"),
    ],
)
def test_s3_endpoint_and_region_from_the_environment(
    environ: dict[str, str], endpoint: str | None, region: str
) -> None:
    store = file_store_from_settings(Settings(file_store="s3://bucket/x"), environ=environ)

    assert isinstance(store, S3FileStore)
    assert (store.endpoint_url, store.region) == (endpoint, region)


def test_s3_settings_default_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")

    store = file_store_from_settings(Settings(file_store="s3://bucket"))

    assert isinstance(store, S3FileStore)
    assert (store.endpoint_url, store.region) == ("http://127.0.0.1:9000", "eu-central-1")


@pytest.mark.parametrize(
    ("file_store", "why"),
    [
        ("s3://", "is not an S3 bucket name"),
        ("s3:///prefix", "is not an S3 bucket name"),
        ("s3://Bucket/x", "is not an S3 bucket name"),
        ("s3://bu", "is not an S3 bucket name"),
        ("s3://-bucket", "is not an S3 bucket name"),
        ("s3://bucket..name", "is not an S3 bucket name"),
        ("s3://user@bucket/x", "is not an S3 bucket name"),
        ("s3://bucket:9000/x", "is not an S3 bucket name"),
        ("s3://" + "b" * 64, "is not an S3 bucket name"),
        ("s3://bucket/a//b", "empty segments"),
        ("s3://bucket/../x", r"'\.\.'"),
        ("s3://bucket/x/part-000001", "reserved for the parts"),
        ("s3://bucket/x?versionId=1", "without a query or fragment"),
        ("s3://bucket/x#y", "without a query or fragment"),
    ],
)
def test_bad_s3_locations_are_refused(tmp_path: Path, file_store: str, why: str) -> None:
    settings = Settings(data_dir=tmp_path, file_store=file_store)
    with pytest.raises(ConfigurationError, match=why) as refused:
        file_store_from_settings(settings, environ={})
    assert "INTERLINK_FILE_STORE=" in str(refused.value)


@pytest.mark.parametrize("file_store", ["/var/files", "file:///var/files", "gs://bucket"])
def test_anything_else_is_refused(tmp_path: Path, file_store: str) -> None:
    settings = Settings(data_dir=tmp_path, file_store=file_store)
    with pytest.raises(ConfigurationError, match="expected s3://bucket/prefix"):
        file_store_from_settings(settings)
