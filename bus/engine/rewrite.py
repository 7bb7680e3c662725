"""Applying a ``Rewrite`` verdict: a new envelope, the original untouched.

Envelopes are shared between the recipients of one message, so a rewrite for
one recipient must never leak into what another receives: the chain runner
works on a copy. ``membrane-stance`` and ``membrane-kind`` map onto envelope
fields; the headers membrane stamps on egress itself (from, id, hops, path,
policy, to) cannot be set by a filter; any other header is added, replaced
or (with a ``None`` value) removed among the pass-through headers.
``strip_fields`` removes top-level fields of a JSON object payload; a payload
that is not a JSON object is left as it is.
"""

from __future__ import annotations

from typing import Any

import msgspec

from bus import headers as h
from bus.envelope import Envelope
from bus.verdict import Rewrite

STAMPED_BY_MEMBRANE = frozenset({h.FROM, h.ID, h.HOPS, h.PATH, h.POLICY, h.TO})

_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


def strip_json_fields(payload: bytes | None, fields: tuple[str, ...]) -> bytes | None:
    """``payload`` without the top-level ``fields``; unchanged if it is not a JSON object."""
    if not payload or not fields or not payload.lstrip().startswith(b"{"):
        return payload
    try:
        document: Any = _decoder.decode(payload)
    except msgspec.DecodeError:
        return payload
    if not isinstance(document, dict) or not any(f in document for f in fields):
        return payload
    for field in fields:
        document.pop(field, None)
    return _encoder.encode(document)


def apply_rewrite(env: Envelope, rewrite: Rewrite) -> Envelope:
    """A copy of ``env`` with ``rewrite`` applied. Raises ValueError for a stamped header."""
    stance = env.stance
    kind = env.kind
    extra = list(env.extra_headers)
    for name, value in rewrite.set_headers.items():
        lowered = name.lower()
        if lowered in STAMPED_BY_MEMBRANE:
            raise ValueError(f"a filter cannot set {name!r}: membrane stamps it on egress")
        if lowered == h.STANCE:
            stance = value
        elif lowered == h.KIND:
            kind = value or ""
        else:
            extra = [(n, v) for n, v in extra if n.lower() != lowered]
            if value is not None:
                extra.append((name, value.encode()))
    return Envelope(
        sender=env.sender,
        payload=strip_json_fields(env.payload, rewrite.strip_fields),
        msg_id=env.msg_id,
        recipients=env.recipients,
        kind=kind,
        stance=stance,
        hops=env.hops,
        path=env.path,
        key=env.key,
        extra_headers=tuple(extra),
        timestamp=env.timestamp,
    )
