"""Choosing the file store from the settings (`INTERLINK_FILE_STORE`)."""

from __future__ import annotations

from interlink.errors import ConfigurationError
from interlink.files.base import FileStore
from interlink.files.local import LocalFileStore
from interlink.settings import Settings


def file_store_from_settings(settings: Settings) -> FileStore:
    """Unset: files in the data folder (`<data dir>/files`); `s3://bucket/prefix`: S3."""
    location = (settings.file_store or "").strip()
    if not location:
        return LocalFileStore(settings.data_dir / "files")
    if location.lower().startswith("s3://"):
        raise ConfigurationError(
            f"INTERLINK_FILE_STORE={location}: "
            "S3 file stores arrive with the distributed deployment (issue 5)"
        )
    raise ConfigurationError(
        f"INTERLINK_FILE_STORE={location}: expected s3://bucket/prefix, "
        "or nothing for the data folder"
    )
