"""Files in an S3-compatible bucket: the distributed deployment's file store.

Layout: each part is one object, `<prefix>/<key>/part-000001` (`keys.part_name`, six
digits, enough for `MAX_PART_INDEX`), so a file's parts are one ListObjectsV2 with the
prefix `<prefix>/<key>/part-`, and S3's byte order of names is the order of indexes.

S3 gives the rules of `FileStore` almost for free: an object appears whole when its
PutObject (or CompleteMultipartUpload) returns, and of two writes of one object the last
to finish wins. A part written from chunks is gathered in memory up to `PART_SIZE`; past
that it becomes a multipart upload of `PART_SIZE` parts, which is aborted if the source
fails or the write is cancelled, so nothing half-written is ever visible and memory stays
bounded by about two parts. Objects under the prefix that are not parts are ignored.

The client (aiobotocore) is created on first use, in the running event loop, and closed
by `aclose()`. Credentials come the usual botocore way (AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, a profile, an instance role, …) unless given explicitly.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import AsyncExitStack
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import ClientError

from interlink.errors import InterlinkError
from interlink.files.base import CHUNK_SIZE, FileStore, PartData, PartInfo, part_gone
from interlink.files.keys import InvalidKey, checked_key, parse_part_name, part_name

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef, ObjectTypeDef

log = logging.getLogger(__name__)

# A streamed part larger than this goes up as a multipart upload of parts of this size
# (S3 wants at least 5 MiB for every part but the last, and at most 10,000 parts: 80 GiB).
PART_SIZE = 8 * 1024 * 1024
# DeleteObjects takes at most this many keys per request.
DELETE_BATCH = 1000
DEFAULT_REGION = "us-east-1"


class S3Error(InterlinkError):
    """The bucket refused an operation the store needed (objects it could not delete)."""


class S3FileStore(FileStore):
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        session: AioSession | None = None,
    ) -> None:
        """`session`: a botocore session to share (it caches the S3 model and credentials)."""
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url or None
        self.region = region or DEFAULT_REGION
        self._credentials = (aws_access_key_id, aws_secret_access_key)
        self._session = session
        self._client: S3Client | None = None
        self._exit_stack: AsyncExitStack | None = None
        self._opening = asyncio.Lock()

    def object_key(self, key: str, index: int) -> str:
        """The name of the object holding part `index` of `key`."""
        return f"{self._root}{key}/{part_name(index)}"

    async def aclose(self) -> None:
        """Close the client (its connections); the next use opens a new one."""
        stack, self._exit_stack, self._client = self._exit_stack, None, None
        self._opening = asyncio.Lock()
        if stack is not None:
            await stack.aclose()

    # -- FileStore ----------------------------------------------------------------------

    async def _write_part(self, key: str, index: int, data: PartData) -> None:
        client = await self._s3()
        object_key = self.object_key(key, index)
        if isinstance(data, bytes | bytearray | memoryview):
            await client.put_object(Bucket=self.bucket, Key=object_key, Body=bytes(data))
            return
        buffer = bytearray()
        upload_id: str | None = None
        completed: list[CompletedPartTypeDef] = []
        try:
            async for chunk in data:
                buffer += chunk
                if len(buffer) <= PART_SIZE:
                    continue
                if upload_id is None:
                    started = await client.create_multipart_upload(
                        Bucket=self.bucket, Key=object_key
                    )
                    upload_id = started["UploadId"]
                while len(buffer) >= PART_SIZE:
                    with memoryview(buffer) as view:
                        body = bytes(view[:PART_SIZE])  # one copy, not two
                    del buffer[:PART_SIZE]
                    completed.append(
                        await self._upload_part(object_key, upload_id, completed, body)
                    )
            if upload_id is None:
                await client.put_object(Bucket=self.bucket, Key=object_key, Body=bytes(buffer))
                return
            if buffer:
                body, buffer = bytes(buffer), bytearray()
                completed.append(await self._upload_part(object_key, upload_id, completed, body))
            await client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=object_key,
                UploadId=upload_id,
                MultipartUpload={"Parts": completed},
            )
        except BaseException:
            if upload_id is not None:
                await self._abort(object_key, upload_id)
            raise

    async def _parts(self, key: str) -> list[PartInfo]:
        parts = []
        start = f"{self._root}{key}/"
        async for item in self._list(f"{start}part-"):
            index = parse_part_name(item["Key"][len(start) :])
            if index is not None:
                parts.append(PartInfo(index, item["Size"]))
        return sorted(parts, key=lambda part: part.index)

    async def _stream(self, key: str, parts: list[PartInfo]) -> AsyncGenerator[bytes, None]:
        client = await self._s3()
        for info in parts:
            try:
                answer = await client.get_object(
                    Bucket=self.bucket, Key=self.object_key(key, info.index)
                )
            except ClientError as exc:
                if _error_code(exc) in {"NoSuchKey", "404"}:
                    raise part_gone(key, info.index) from exc
                raise
            async with answer["Body"] as body:
                while chunk := await _read_up_to(body, CHUNK_SIZE):
                    yield chunk

    async def _delete_parts_after(self, key: str, index: int) -> None:
        beyond = [part.index for part in await self._parts(key) if part.index > index]
        await self._delete_objects([self.object_key(key, number) for number in beyond])

    async def _delete_older_than(self, prefix: str, when: datetime) -> int:
        # `prefix/` holds both the parts of the file `prefix` and the files under it.
        listed = f"{self._root}{prefix}/" if prefix else self._root
        files: defaultdict[str, list[ObjectTypeDef]] = defaultdict(list)
        async for item in self._list(listed):
            file_key, _slash, name = item["Key"][len(self._root) :].rpartition("/")
            if parse_part_name(name) is not None and _is_key(file_key):
                files[file_key].append(item)
        expired = [
            parts for parts in files.values() if max(part["LastModified"] for part in parts) < when
        ]
        await self._delete_objects([part["Key"] for parts in expired for part in parts])
        return len(expired)

    # -- S3 -------------------------------------------------------------------------------

    @property
    def _root(self) -> str:
        return f"{self.prefix}/" if self.prefix else ""

    async def _s3(self) -> S3Client:
        """The client, created on first use (in the running event loop)."""
        if self._client is None:
            async with self._opening:
                if self._client is None:
                    stack = AsyncExitStack()
                    access_key, secret_key = self._credentials
                    self._client = await stack.enter_async_context(
                        (self._session or get_session()).create_client(
                            "s3",
                            region_name=self.region,
                            endpoint_url=self.endpoint_url,
                            aws_access_key_id=access_key,
                            aws_secret_access_key=secret_key,
                            config=AioConfig(
                                # MinIO, moto and most S3-compatible services at a custom
                                # endpoint serve buckets as paths, not as host names.
                                s3={"addressing_style": "path" if self.endpoint_url else "auto"},
                            ),
                        )
                    )
                    self._exit_stack = stack
        return self._client

    async def _list(self, prefix: str) -> AsyncIterator[ObjectTypeDef]:
        client = await self._s3()
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        async for page in pages:
            for item in page.get("Contents", []):
                yield item

    async def _upload_part(
        self, object_key: str, upload_id: str, done: list[CompletedPartTypeDef], body: bytes
    ) -> CompletedPartTypeDef:
        client = await self._s3()
        number = len(done) + 1
        answer = await client.upload_part(
            Bucket=self.bucket, Key=object_key, UploadId=upload_id, PartNumber=number, Body=body
        )
        return {"ETag": answer["ETag"], "PartNumber": number}

    async def _abort(self, object_key: str, upload_id: str) -> None:
        """Abort a multipart upload, even while the write is being cancelled.

        Shielded, so a second cancellation does not stop it halfway; if it fails, the
        upload stays pending (invisible, but billed) until the bucket's lifecycle rule
        for incomplete multipart uploads removes it: the error that caused it matters more.
        """
        client = await self._s3()
        abort = asyncio.ensure_future(
            client.abort_multipart_upload(Bucket=self.bucket, Key=object_key, UploadId=upload_id)
        )
        try:
            await asyncio.shield(abort)
        except asyncio.CancelledError:
            abort.add_done_callback(_log_abort_failure)
        except Exception:
            log.warning("could not abort the multipart upload of %s", object_key, exc_info=True)

    async def _delete_objects(self, object_keys: list[str]) -> None:
        client = await self._s3()
        for start in range(0, len(object_keys), DELETE_BATCH):
            batch = object_keys[start : start + DELETE_BATCH]
            answer = await client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": name} for name in batch], "Quiet": True},
            )
            errors = answer.get("Errors", [])
            if errors:
                first = errors[0]
                raise S3Error(
                    f"could not delete {len(errors)} object(s) from bucket {self.bucket!r}, "
                    f"{first.get('Key')!r} first: {first.get('Code')} {first.get('Message')}"
                )


async def _read_up_to(body: _Readable, size: int) -> bytes:
    """Up to `size` bytes of `body`, fewer only at its end (the network gives less at once)."""
    chunk = await body.read(size)
    if not chunk or len(chunk) == size:
        return chunk
    gathered = bytearray(chunk)
    while len(gathered) < size and (more := await body.read(size - len(gathered))):
        gathered += more
    return bytes(gathered)


class _Readable(Protocol):
    async def read(self, amt: int | None = None) -> bytes: ...


def _is_key(name: str) -> bool:
    """Whether `name` is a file key: objects of another layout in the bucket stay untouched."""
    try:
        checked_key(name)
    except InvalidKey:
        return False
    return True


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _log_abort_failure(abort: asyncio.Future[Any]) -> None:
    if not abort.cancelled() and abort.exception() is not None:
        log.warning("could not abort a multipart upload", exc_info=abort.exception())
