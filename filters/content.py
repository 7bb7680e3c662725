"""A normalised content digest: the same content hashes the same however it is dressed.

A JSON payload is decoded, the ``ignore`` fields are dropped from the top
level (ids, timestamps: what differs between otherwise equal messages), every
string is case-folded and whitespace-folded, and the result is re-encoded
with sorted keys; anything else is treated as text and folded the same way;
bytes that are not UTF-8 are hashed as they are. The digest is Python's
64-bit hash of the canonical bytes (SipHash, keyed per process): digests are
only compared within the process that made them, a collision among the
100,000 digests an echo table holds is a one-in-10^9 event, and it costs a
tenth of a cryptographic hash.
"""

from __future__ import annotations

from typing import Any

import msgspec

_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder(order="sorted")


def fold_text(text: str) -> str:
    """Case-folded, with every run of whitespace collapsed to one space."""
    return " ".join(text.casefold().split())


def _fold(value: Any) -> Any:
    """Fold every string of a freshly decoded document, in place (it is ours)."""
    kind = type(value)  # decoded JSON holds exactly str, dict, list and scalars
    if kind is str:
        return fold_text(value)
    if kind is dict:
        for key, item in value.items():
            if type(item) in _CONTAINERS_AND_TEXT:
                value[key] = _fold(item)
    elif kind is list:
        for i, item in enumerate(value):
            if type(item) in _CONTAINERS_AND_TEXT:
                value[i] = _fold(item)
    return value


_CONTAINERS_AND_TEXT = frozenset({str, dict, list})
_JSON_STARTS = frozenset({b"{", b"["})
_WHITESPACE = frozenset({b" ", b"\t", b"\r", b"\n"})


def normalised(payload: bytes, ignore: tuple[str, ...] = ()) -> bytes:
    """The canonical form of ``payload`` that the digest is taken over."""
    head = payload[:1]
    if head in _WHITESPACE:  # rare: look past leading whitespace (a copy)
        head = payload.lstrip()[:1]
    if head in _JSON_STARTS:
        try:
            document = _decoder.decode(payload)
        except msgspec.DecodeError:
            document = None
        else:
            if isinstance(document, dict):
                for field in ignore:
                    document.pop(field, None)
            return _encoder.encode(_fold(document))
    try:
        return fold_text(payload.decode("utf-8")).encode()
    except UnicodeDecodeError:
        return payload


def content_digest(payload: bytes | None, ignore: tuple[str, ...] = ()) -> int:
    return hash(normalised(payload or b"", ignore))
