"""An upload's bytes as lines, in bounded memory: byte-order mark dropped, long lines cut off."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

from interlink.bulk.formats.rows import MAX_ROW_BYTES, InvalidFile

UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


async def without_bom(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """The chunks minus a leading UTF-8 byte-order mark; a UTF-16 file is refused.

    Excel's "Unicode text" and some editors save UTF-16, which would otherwise surface as
    an error on every row; saying so once is kinder.
    """
    iterator = aiter(chunks)
    head = b""
    async for chunk in iterator:
        head += chunk
        if len(head) >= len(UTF8_BOM):
            break
    if head.startswith(_UTF16_BOMS):
        raise InvalidFile("the file is UTF-16: save it as UTF-8", line=1, column=1)
    if head.startswith(UTF8_BOM):
        head = head[len(UTF8_BOM) :]
    if head:
        yield head
    async for chunk in iterator:
        if chunk:
            yield chunk


async def physical_lines(
    chunks: AsyncIterable[bytes], *, max_bytes: int = MAX_ROW_BYTES
) -> AsyncIterator[bytes | None]:
    """Each line with its line end (the last may have none), or None for a line longer than
    `max_bytes`, which is skipped without being held.

    Splitting on b"\\n" is safe before decoding: in UTF-8 that byte never occurs inside a
    multi-byte character, so a line's bytes can be decoded (and judged) on their own.
    """
    partial = bytearray()
    overlong = False
    async for chunk in chunks:
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            if overlong or len(partial) + end + 1 - start > max_bytes:
                yield None
            elif partial:
                partial += chunk[start : end + 1]
                yield bytes(partial)
            else:
                yield chunk[start : end + 1]
            partial.clear()
            overlong = False
            start = end + 1
        if not overlong:
            partial += memoryview(chunk)[start:]
            if len(partial) > max_bytes:
                overlong = True
                partial.clear()
    if overlong:
        yield None
    elif partial:
        yield bytes(partial)
