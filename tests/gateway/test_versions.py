"""ApiVersions narrowing: inspected APIs at decodable versions only, address-bearing APIs hidden."""

from __future__ import annotations

import datetime

from kio.schema.api_versions.v3.response import ApiVersion, ApiVersionsResponse
from kio.schema.errors import ErrorCode

from bus.gateway import versions as api

BROKER = {
    api.PRODUCE: (0, 13),
    api.FETCH: (0, 17),
    api.METADATA: (0, 12),
    api.SASL_HANDSHAKE: (0, 1),
    api.DESCRIBE_CLUSTER: (0, 1),
    8: (0, 9),  # OffsetCommit: passed through at the broker's versions
    55: (0, 2),  # DescribeQuorum: controller addresses the gateway does not rewrite
    75: (0, 0),  # DescribeTopicPartitions: a topic listing outside Metadata
}


def broker_answer(error: ErrorCode = ErrorCode.none) -> ApiVersionsResponse:
    return ApiVersionsResponse(
        error_code=error,
        api_keys=tuple(
            ApiVersion(api_key=k, min_version=lo, max_version=hi) for k, (lo, hi) in BROKER.items()
        ),
        throttle_time=datetime.timedelta(0),
    )


def offered(response: ApiVersionsResponse) -> dict[int, tuple[int, int]]:
    return {int(k.api_key): (int(k.min_version), int(k.max_version)) for k in response.api_keys}


def test_inspected_apis_are_narrowed_to_what_both_sides_support() -> None:
    narrowed = offered(api.narrow(broker_answer()))
    assert narrowed[api.PRODUCE] == (3, 12)  # kio from v3; v13 names topics by id only
    assert narrowed[api.FETCH] == (4, 17)  # kio from v4
    assert narrowed[api.METADATA] == (1, 12)  # v0 reads an empty topic list as "all"
    assert narrowed[api.SASL_HANDSHAKE] == (1, 1)
    assert narrowed[api.DESCRIBE_CLUSTER] == (0, 1)


def test_other_apis_pass_and_unrewritable_ones_are_hidden() -> None:
    narrowed = offered(api.narrow(broker_answer()))
    assert narrowed[8] == (0, 9)
    assert 55 not in narrowed
    assert 75 not in narrowed


def test_an_error_answer_is_left_alone() -> None:
    answer = broker_answer(ErrorCode.unsupported_version)
    assert api.narrow(answer) is answer
