"""TLS and SASL settings reach the Kafka client; secrets never reach a log line or a metric.

The listener used here (``SaslRecorder``) accepts the SASL handshake, records
what the client sends and refuses it, so the client really sends its
credentials and then logs its failure and retries. With aiokafka at debug
level a SASL PLAIN request is logged with the password in it: membrane
redacts every secret it read from the environment (``bus.secrets``,
``bus.log``), in messages and tracebacks alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from bus.errors import ConfigError
from bus.log import redact
from bus.relay.kafka_options import client_options
from bus.reliability.process import RelayProcess
from bus.rules.transports import KafkaSettings

from .conftest import KEY_PASSWORD, Certificates
from .sasl_broker import SaslRecorder

pytestmark = pytest.mark.timeout(120)

SASL_PASSWORD = "sasl-Pa55'w\\ord-é-41b7"  # a quote, a backslash, a non-ASCII letter
SASL_ENV = "MEMBRANE_TEST_SASL_PASSWORD"
KEY_ENV = "MEMBRANE_TEST_TLS_KEY_PASSWORD"


def shown(secret: str, text: str) -> bool:
    """Whether ``secret`` appears in ``text`` as written or as a bytes repr escapes it."""
    return secret in text or repr(secret.encode())[2:-1] in text


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """Everything logged at debug level by any logger, aiokafka's included."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root, kafka = logging.getLogger(), logging.getLogger("aiokafka")
    levels = root.level, kafka.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    kafka.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(levels[0])
        kafka.setLevel(levels[1])


def sasl(mechanism: str, **tls: Any) -> KafkaSettings:
    protocol = "SASL_SSL" if tls else "SASL_PLAINTEXT"
    return KafkaSettings(security_protocol=protocol, sasl_mechanism=mechanism,  # type: ignore[arg-type]
                         sasl_username="membrane", sasl_password_env=SASL_ENV, **tls)


async def connect_once(options: dict[str, Any]) -> None:
    producer = AIOKafkaProducer(**options, request_timeout_ms=5_000)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(producer.start(), 10)
    await producer.stop()


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_the_sasl_password_goes_on_the_wire_and_into_no_log_line(
    mechanism: str, debug_log: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SASL_ENV, SASL_PASSWORD)
    async with SaslRecorder() as broker:
        options = client_options(sasl(mechanism), f"127.0.0.1:{broker.port}")
        assert options["sasl_mechanism"] == mechanism
        assert options["sasl_plain_username"] == "membrane"
        assert options["sasl_plain_password"] == SASL_PASSWORD
        await connect_once(options)
    logged = debug_log.getvalue()
    assert broker.received, "the client never reached SASL authentication"
    first = broker.received[0]
    if mechanism == "PLAIN":
        assert first == b"\0".join([b"membrane", b"membrane", SASL_PASSWORD.encode()])
    else:  # SCRAM sends a proof derived from the password, starting with the user name
        assert b"n=membrane" in first
    assert "SaslAuthenticateRequest" in logged  # the line that used to show the password
    assert not shown(SASL_PASSWORD, logged)


def tls_server(certificates: Certificates) -> ssl.SSLContext:
    """A listener that requires a client certificate signed by the test CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=certificates.ca)
    context.load_cert_chain(certificates.server_cert, certificates.server_key)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


async def test_tls_files_and_key_password_from_the_rules_make_a_mutual_tls_connection(
    certificates: Certificates, debug_log: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SASL over TLS with a client certificate: the handshake only succeeds if the CA
    file, the certificate and the encrypted key (its password from the environment)
    all reached the client; then SASL runs inside the encrypted connection."""
    monkeypatch.setenv(SASL_ENV, SASL_PASSWORD)
    monkeypatch.setenv(KEY_ENV, KEY_PASSWORD)
    settings = sasl("PLAIN", ssl_cafile=str(certificates.ca),
                    ssl_certfile=str(certificates.client_cert),
                    ssl_keyfile=str(certificates.client_key), ssl_password_env=KEY_ENV)
    async with SaslRecorder(tls=tls_server(certificates)) as broker:
        options = client_options(settings, f"127.0.0.1:{broker.port}")
        context = options["ssl_context"]
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        await connect_once(options)
    assert broker.received and SASL_PASSWORD.encode() in broker.received[0]
    logged = debug_log.getvalue()
    assert not shown(SASL_PASSWORD, logged) and not shown(KEY_PASSWORD, logged)


def test_tls_settings_are_checked_and_their_errors_keep_the_password_out(
    certificates: Certificates, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = {"security_protocol": "SSL", "ssl_cafile": str(certificates.ca),
            "ssl_certfile": str(certificates.client_cert),
            "ssl_keyfile": str(certificates.client_key), "ssl_password_env": KEY_ENV}
    monkeypatch.setenv(KEY_ENV, KEY_PASSWORD)
    relaxed = client_options(KafkaSettings(**base, ssl_check_hostname=False), "k:9093")
    assert relaxed["ssl_context"].check_hostname is False
    assert relaxed["security_protocol"] == "SSL" and "sasl_mechanism" not in relaxed
    monkeypatch.setenv(KEY_ENV, "not-the-passphrase")
    with pytest.raises(ConfigError) as wrong:
        client_options(KafkaSettings(**base), "k:9093")
    assert "not-the-passphrase" not in str(wrong.value) and wrong.value.path == "$.kafka"
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(ConfigError) as missing:
        client_options(KafkaSettings(**base), "k:9093")
    assert missing.value.path == "$.kafka.ssl_password_env" and KEY_ENV in str(missing.value)


RULES = """\
version: 1
agents: {alice: {}, bob: {}}
edges:
  - {name: alice-to-bob, from: alice, to: bob}
kafka:
  security_protocol: SASL_PLAINTEXT
  sasl_mechanism: PLAIN
  sasl_username: membrane
  sasl_password_env: MEMBRANE_TEST_SASL_PASSWORD
"""


async def test_membrane_run_at_debug_level_neither_logs_nor_exports_the_secret(
    tmp_path: Path
) -> None:
    """The real command, logging at debug level, retrying a listener that refuses
    its credentials: the password goes out on every attempt and appears nowhere else."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    async with SaslRecorder() as broker:
        relay = RelayProcess([rules], f"127.0.0.1:{broker.port}", log=tmp_path / "relay.log",
                             log_level="debug", env={SASL_ENV: SASL_PASSWORD})
        try:
            relay.start()
            for _ in range(300):
                if len(broker.received) >= 3:
                    break
                await asyncio.sleep(0.1)
            exposition = await asyncio.to_thread(relay.scrape)
            health = relay.probe("/healthz"), relay.probe("/readyz")
            code = await relay.terminate_async(30)
        finally:
            relay.kill()
    logged = relay.log_text()
    assert len(broker.received) >= 3, logged[-3000:]
    assert all(SASL_PASSWORD.encode() in sent for sent in broker.received)
    assert "SaslAuthenticateRequest" in logged and "reconnecting in" in logged
    assert not shown(SASL_PASSWORD, logged) and not shown(SASL_PASSWORD, exposition)
    assert health == (200, 503)  # running, retrying, not ready
    assert code == 0


def test_any_secret_read_from_the_environment_is_masked_in_messages_and_tracebacks(
    debug_log: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The MQTT password takes the same road (``bus.secrets``) as the Kafka ones."""
    from bus.mqtt.connection import _password
    from bus.rules.transports import MqttSettings

    secret = "mqtt-secret-5e1a"
    monkeypatch.setenv("MEMBRANE_TEST_MQTT_PASSWORD", secret)
    assert _password(MqttSettings(username="m", password_env="MEMBRANE_TEST_MQTT_PASSWORD")) \
        == secret
    log = logging.getLogger("membrane.test")
    log.warning("connecting with %s", secret)
    try:
        raise RuntimeError(f"refused: {secret!r}")
    except RuntimeError:
        log.exception("failed")
    logged = debug_log.getvalue()
    assert "connecting with ***" in logged and "RuntimeError: refused: '***'" in logged
    assert secret not in logged


def test_a_secret_that_contains_another_is_masked_whole(debug_log: io.StringIO) -> None:
    # Registered short one first: masking it first would show the rest of the long one.
    short, long = "pw-8d1c", "tenant-pw-8d1c-and-more"
    redact(short)
    redact(long)
    logging.getLogger("membrane.test").warning("sending %s then %s", long, short)
    logged = debug_log.getvalue()
    assert "sending *** then ***" in logged
    assert "tenant" not in logged and "more" not in logged
