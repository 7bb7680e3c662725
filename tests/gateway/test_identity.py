"""Identity in a shared gateway: client-id mapping (end to end) and SASL principals."""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import TopicAuthorizationFailedError
from kio.schema.errors import ErrorCode
from kio.schema.sasl_authenticate.v2 import SaslAuthenticateRequest, SaslAuthenticateResponse
from kio.schema.sasl_handshake.v1 import SaslHandshakeRequest

from bus.errors import ConfigError
from bus.gateway.addressing import BrokerMap
from bus.gateway.codec import encode_request, encode_response, request_type
from bus.gateway.handlers import plan_request
from bus.gateway.identity import plain_user, scram_user
from bus.gateway.server import Gateway
from bus.gateway.session import GatewayState, Session
from bus.metrics import Metrics
from bus.policy import PolicyHolder, load_policy

if TYPE_CHECKING:
    from conftest import Team


@pytest.fixture
def rules_extra() -> str:
    return """
gateway:
  identity: client-id
  client_ids: {alice-app: alice, bob-app: bob}
"""


@pytest.mark.e2e
async def test_a_shared_gateway_tells_agents_apart_by_client_id(team: Team) -> None:
    async with Gateway(team.holder, upstream=team.broker.bootstrap, listen="127.0.0.1:0") as gw:
        producer = AIOKafkaProducer(bootstrap_servers=gw.bootstrap, client_id="alice-app")
        await producer.start()
        try:
            await producer.send_and_wait(
                team.inbox("bob"), b"hi bob", partition=0, headers=[("membrane-kind", b"task")]
            )
        finally:
            await producer.stop()

        stranger = AIOKafkaProducer(
            bootstrap_servers=gw.bootstrap, client_id="stranger", request_timeout_ms=5000
        )
        await stranger.start()
        try:
            with pytest.raises(TopicAuthorizationFailedError):
                await stranger.send_and_wait(team.inbox("bob"), b"who am I", partition=0)
        finally:
            await stranger.stop()

        consumer = AIOKafkaConsumer(
            bootstrap_servers=gw.bootstrap, client_id="bob-app", auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            tp = TopicPartition(team.inbox("bob"), 0)
            consumer.assign([tp])
            async with asyncio.timeout(30):
                batch: dict[TopicPartition, list[object]] = {}
                while not batch.get(tp):
                    batch = await consumer.getmany(tp, timeout_ms=500)  # type: ignore[assignment]
            [record] = batch[tp]
        finally:
            await consumer.stop()
    assert record.value == b"hi bob"  # type: ignore[attr-defined]
    assert dict(record.headers)["membrane-from"] == b"alice"  # type: ignore[attr-defined]


def test_a_shared_gateway_without_an_identity_mode_is_a_config_error(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\nagents: {alice: {}}\n")
    with pytest.raises(ConfigError, match="--agent"):
        Gateway(PolicyHolder(load_policy(rules)), upstream="127.0.0.1:9092")


def test_sasl_user_names_are_read_from_plain_and_scram() -> None:
    assert plain_user(b"\0alice\0secret") == "alice"
    assert plain_user(b"admin\0alice\0secret") == "alice"
    assert plain_user(b"garbage") is None
    assert scram_user(b"n,,n=ali=2Cce,r=fyko+d2lbbFgONRv9qkxdawL") == "ali,ce"
    assert scram_user(b"n,a=someone,n=bob,r=abc") == "bob"
    assert scram_user(b"c=biws,r=abc,p=proof") is None


@pytest.mark.parametrize(
    ("error", "adopted"), [(ErrorCode.none, "alice"), (ErrorCode.sasl_authentication_failed, None)]
)
async def test_the_principal_becomes_the_agent_once_the_broker_accepts_it(
    tmp_path: Path, error: ErrorCode, adopted: str | None
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "version: 1\nagents: {alice: {}}\n"
        "gateway: {identity: sasl, principals: {svc-alice: alice}}\n"
    )
    state = GatewayState(
        BrokerMap("127.0.0.1", lambda n: 1),
        Metrics(),
        PolicyHolder(load_policy(rules)),
        identity="sasl",
    )
    session = Session(state, "test", None)

    def header(key: int, version: int, correlation_id: int) -> Any:
        kind = request_type(key, version).__header_schema__
        return kind(
            request_api_key=key,
            request_api_version=version,
            correlation_id=correlation_id,
            client_id="c",
        )

    handshake = encode_request(header(17, 1, 1), SaslHandshakeRequest(mechanism="PLAIN"))
    await plan_request(session, handshake[4:])
    assert session.mechanism == "PLAIN"
    authenticate = encode_request(
        header(36, 2, 2), SaslAuthenticateRequest(auth_bytes=b"\0svc-alice\0pw")
    )
    plan = await plan_request(session, authenticate[4:])
    assert plan.forward == authenticate  # passed through untouched
    assert session.agent is None  # not before the broker has said yes
    answer = encode_response(
        2,
        SaslAuthenticateResponse(
            error_code=error,
            error_message=None,
            auth_bytes=b"",
            session_lifetime=datetime.timedelta(0),
        ),
    )
    assert plan.transform is not None
    assert plan.transform(answer[4:]) == answer
    assert session.agent == adopted
