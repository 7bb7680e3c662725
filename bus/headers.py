"""Names of the headers membrane reads and writes: the one place they are defined.

On Kafka they are record headers; on MQTT 5 they are user properties; for
MQTT 3.1.1 clients they travel in the JSON envelope described in docs/mqtt.md.
Every header starting with ``membrane-`` is owned by membrane: on ingress a
client's copy is stripped and membrane stamps its own.
"""

from __future__ import annotations

from typing import Final

PREFIX: Final = "membrane-"

# Stamped by membrane on every forwarded message.
FROM: Final = "membrane-from"
ID: Final = "membrane-id"
HOPS: Final = "membrane-hops"
PATH: Final = "membrane-path"
POLICY: Final = "membrane-policy"

# Set by the sending agent; validated, then re-stamped.
TO: Final = "membrane-to"
KIND: Final = "membrane-kind"
STANCE: Final = "membrane-stance"

# Added to quarantined copies.
VERDICT: Final = "membrane-verdict"
RULE: Final = "membrane-rule"
FILTER: Final = "membrane-filter"
REASON: Final = "membrane-reason"
DETAIL: Final = "membrane-detail"
RECIPIENT: Final = "membrane-recipient"
ORIGIN_TOPIC: Final = "membrane-origin-topic"
ORIGIN_OFFSET: Final = "membrane-origin-offset"
ORIGIN_PARTITION: Final = "membrane-origin-partition"
# Set on what `membrane replay` re-injects: how many times it was replayed.
REPLAYED: Final = "membrane-replayed"

# Passed through untouched.
TRACEPARENT: Final = "traceparent"

RECIPIENT_SEPARATOR: Final = ","
PATH_SEPARATOR: Final = ","
