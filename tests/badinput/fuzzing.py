"""What the fuzz tests share: the example budget and the strategies for headers and JSON.

A fixed number of examples per property runs in CI; ``MEMBRANE_FUZZ_EXAMPLES``
(or ``MEMBRANE_LONG=1``) runs more, see docs/reliability.md.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from bus import headers as h
from bus.envelope import MAX_PATH, MAX_RECIPIENTS
from bus.reliability import scaled

EXAMPLES = int(os.environ.get("MEMBRANE_FUZZ_EXAMPLES", scaled(200, 5_000)))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

MEMBRANE_NAMES = [h.TO, h.KIND, h.STANCE, h.HOPS, h.PATH, h.ID, h.FROM, h.POLICY, h.VERDICT,
                  h.REASON, h.RULE, h.RECIPIENT, h.ORIGIN_TOPIC, "membrane-anything"]
header_names = (
    st.sampled_from(MEMBRANE_NAMES)
    | st.sampled_from(MEMBRANE_NAMES).map(str.upper)
    | st.sampled_from(MEMBRANE_NAMES).map(str.title)
    | st.sampled_from(["traceparent", "content-type", " membrane-from", "membrane-from\0"])
    | st.text(max_size=24)
)
TRICKY_VALUES = [
    "²".encode(), "٣".encode(), b"9" * 5_000, b"-1", b"1e3", b" 7 ", b"007", b"",
    b"\xff\xfe", b"a,,b", b",", ",".join(["x"] * (MAX_RECIPIENTS + 1)).encode(),
    ",".join(["p"] * (MAX_PATH + 1)).encode(), b"x" * 200, "\u2028".encode(), b"\0",
]
header_values = (
    st.none()
    | st.binary(max_size=300)
    | st.text(max_size=80).map(str.encode)
    | st.lists(st.text(alphabet="abc-1.", min_size=1, max_size=6), max_size=8)
    .map(lambda parts: ",".join(parts).encode())
    | st.sampled_from(TRICKY_VALUES)
)
raw_headers = st.lists(st.tuples(header_names, header_values), max_size=14)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=12)
