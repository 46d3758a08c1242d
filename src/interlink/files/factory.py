"""Choosing the file store from the settings (`INTERLINK_FILE_STORE`)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from interlink.errors import ConfigurationError
from interlink.files.base import FileStore
from interlink.files.keys import InvalidKey, checked_prefix
from interlink.files.local import LocalFileStore
from interlink.settings import Settings

# S3's rules for bucket names: 3 to 63 lowercase letters, digits, dots and hyphens,
# starting and ending with a letter or digit.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def file_store_from_settings(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> FileStore:
    """Unset: files in the data folder (`<data dir>/files`); `s3://bucket/prefix`: S3.

    For S3, `AWS_ENDPOINT_URL` (an S3-compatible service such as MinIO, reached with
    path-style addresses) and `AWS_REGION` (default us-east-1) come from `environ` (the
    process environment by default); botocore finds the credentials itself.
    """
    location = (settings.file_store or "").strip()
    if not location:
        return LocalFileStore(settings.data_dir / "files")
    if location.lower().startswith("s3://"):
        bucket, prefix = parse_s3_location(location)
        # Imported here: aiobotocore takes a fifth of a second to import, which the
        # embedded default (and every CLI command) need not pay.
        from interlink.files.s3 import DEFAULT_REGION, S3FileStore

        env = os.environ if environ is None else environ
        return S3FileStore(
            bucket,
            prefix,
            endpoint_url=(env.get("AWS_ENDPOINT_URL") or "").strip() or None,
            region=(
                (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "").strip()
                or DEFAULT_REGION
            ),
        )
    raise ConfigurationError(
        f"INTERLINK_FILE_STORE={location}: expected s3://bucket/prefix, "
        "or nothing for the data folder"
    )


def parse_s3_location(location: str) -> tuple[str, str]:
    """`s3://bucket/prefix` → (bucket, prefix); the prefix may be empty (the whole bucket)."""
    rest = location[len("s3://") :]
    bucket, _slash, prefix = rest.partition("/")
    prefix = prefix.rstrip("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ConfigurationError(
            f"INTERLINK_FILE_STORE={location}: {bucket!r} is not an S3 bucket name "
            "(3-63 lowercase letters, digits, dots and hyphens), expected s3://bucket/prefix"
        )
    if any(char in prefix for char in "?#"):
        raise ConfigurationError(
            f"INTERLINK_FILE_STORE={location}: expected s3://bucket/prefix, "
            "without a query or fragment"
        )
    try:
        checked_prefix(prefix)
    except InvalidKey as exc:
        raise ConfigurationError(
            f"INTERLINK_FILE_STORE={location}: the prefix is not usable: {exc.detail}"
        ) from exc
    return bucket, prefix
