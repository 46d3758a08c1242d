"""Where bulk files live: a `FileStore` of files written as ordered parts.

`LocalFileStore` keeps them in the data folder (the embedded default); `S3FileStore` in an
S3-compatible bucket (the distributed deployment); `InMemoryFileStore` is the fake for tests.
`file_store_from_settings` picks one from `INTERLINK_FILE_STORE`.
"""

from typing import TYPE_CHECKING, Any

from interlink.files.base import CHUNK_SIZE, FileStore, PartData, PartInfo
from interlink.files.factory import file_store_from_settings
from interlink.files.keys import MAX_PART_INDEX, InvalidKey
from interlink.files.local import LocalFileStore
from interlink.files.memory import InMemoryFileStore

if TYPE_CHECKING:
    from interlink.files.s3 import S3FileStore

__all__ = [
    "CHUNK_SIZE",
    "MAX_PART_INDEX",
    "FileStore",
    "InMemoryFileStore",
    "InvalidKey",
    "LocalFileStore",
    "PartData",
    "PartInfo",
    "S3FileStore",
    "file_store_from_settings",
]


def __getattr__(name: str) -> Any:
    # `S3FileStore` is imported on first use: aiobotocore is slow to import, and only the
    # distributed deployment needs it.
    if name == "S3FileStore":
        from interlink.files.s3 import S3FileStore

        return S3FileStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
