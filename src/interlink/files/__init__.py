"""Where bulk files live: a `FileStore` of files written as ordered parts.

`LocalFileStore` keeps them in the data folder (the embedded default); an S3-compatible
store comes with the distributed deployment; `InMemoryFileStore` is the fake for tests.
`file_store_from_settings` picks one from `INTERLINK_FILE_STORE`.
"""

from interlink.files.base import CHUNK_SIZE, FileStore, PartData, PartInfo
from interlink.files.factory import file_store_from_settings
from interlink.files.keys import MAX_PART_INDEX, InvalidKey
from interlink.files.local import LocalFileStore
from interlink.files.memory import InMemoryFileStore

__all__ = [
    "CHUNK_SIZE",
    "MAX_PART_INDEX",
    "FileStore",
    "InMemoryFileStore",
    "InvalidKey",
    "LocalFileStore",
    "PartData",
    "PartInfo",
    "file_store_from_settings",
]
