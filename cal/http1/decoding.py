"""Content-encoding decoders for response bodies: gzip, deflate, br, zstd (stacked as listed).

`body_decoder(values)` gives None for an identity body, else a decoder whose `decode(piece)` and
`flush()` return plain bytes. An encoding we do not know is passed through untouched (as httpx
did); a body that does not decode raises DecodingError.
"""

from __future__ import annotations

import zlib
from typing import Protocol

import brotli
import zstandard

from cal.http1.errors import DecodingError


class _Stage(Protocol):
    def decode(self, data: bytes) -> bytes: ...

    def flush(self) -> bytes: ...


class _Gzip:
    __slots__ = ("_inflater",)

    def __init__(self) -> None:
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def decode(self, data: bytes) -> bytes:
        return self._inflater.decompress(data)

    def flush(self) -> bytes:
        return self._inflater.flush()


class _Deflate:
    """`deflate` is meant to be zlib-wrapped, but some servers send a raw stream: try both."""

    __slots__ = ("_first", "_inflater")

    def __init__(self) -> None:
        self._inflater = zlib.decompressobj()
        self._first = True

    def decode(self, data: bytes) -> bytes:
        if self._first:
            self._first = False
            try:
                return self._inflater.decompress(data)
            except zlib.error:
                self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        return self._inflater.decompress(data)

    def flush(self) -> bytes:
        return self._inflater.flush()


class _Brotli:
    __slots__ = ("_decompressor",)

    def __init__(self) -> None:
        self._decompressor = brotli.Decompressor()

    def decode(self, data: bytes) -> bytes:
        return bytes(self._decompressor.process(data))

    def flush(self) -> bytes:
        return b""


class _Zstd:
    __slots__ = ("_decompressor",)

    def __init__(self) -> None:
        self._decompressor = zstandard.ZstdDecompressor().decompressobj(read_across_frames=True)

    def decode(self, data: bytes) -> bytes:
        return bytes(self._decompressor.decompress(data))

    def flush(self) -> bytes:
        return bytes(self._decompressor.flush())


_STAGES: dict[str, type[_Gzip | _Deflate | _Brotli | _Zstd]] = {
    "gzip": _Gzip,
    "x-gzip": _Gzip,
    "deflate": _Deflate,
    "br": _Brotli,
    "zstd": _Zstd,
}
_FAILURES = (zlib.error, brotli.error, zstandard.ZstdError)


class BodyDecoder:
    """The stages of a body's content-encodings, undone in reverse order of application."""

    __slots__ = ("_stages",)

    def __init__(self, stages: list[_Stage]) -> None:
        self._stages = stages

    def decode(self, data: bytes) -> bytes:
        try:
            for stage in self._stages:
                data = stage.decode(data)
        except _FAILURES as exc:
            raise DecodingError(f"the body does not decode: {exc}") from exc
        return data

    def flush(self) -> bytes:
        data = b""
        try:
            for stage in self._stages:
                data = stage.decode(data) + stage.flush() if data else stage.flush()
        except _FAILURES as exc:
            raise DecodingError(f"the body does not decode: {exc}") from exc
        return data


def body_decoder(values: list[str]) -> BodyDecoder | None:
    """The decoder for a response's content-encoding header values (None: nothing to undo)."""
    names = [n.strip().lower() for value in values for n in value.split(",")]
    stages: list[_Stage] = [_STAGES[n]() for n in reversed(names) if n in _STAGES]
    return BodyDecoder(stages) if stages else None
