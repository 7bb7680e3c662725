"""Connecting to the MQTT broker: client options from settings.

The bridge's session is persistent — clean start off (MQTT 5) or clean
session false (3.1.1), with a session expiry — so that what agents publish
while the bridge restarts waits in the broker. Incoming QoS 1/2 messages are
acknowledged by the bridge itself (manual acks), only once their outcome is
durable; the MQTT 5 receive maximum then bounds how many unacknowledged
messages the broker lets the bridge hold.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bus.errors import ConfigError
from bus.mqtt.codec import new_properties
from bus.rules.transports import MqttSettings
from bus.secrets import from_env


def _password(settings: MqttSettings) -> str | None:
    return from_env(settings.password_env, "$.mqtt.password_env")


def _tls_context(settings: MqttSettings) -> ssl.SSLContext | None:
    if not settings.tls:
        return None
    try:
        context = ssl.create_default_context(cafile=settings.ca_file)
        if settings.cert_file is not None:
            context.load_cert_chain(settings.cert_file, settings.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load MQTT TLS files: {exc}", path="$.mqtt.tls") from None
    return context


def connect_properties(settings: MqttSettings) -> Properties:
    """MQTT 5 CONNECT properties: how long the broker keeps our session, and
    how many unacknowledged messages it may send us at once."""
    properties = new_properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = settings.session_expiry
    properties.ReceiveMaximum = settings.receive_maximum
    return properties


def make_client(
    settings: MqttSettings, *, client_id: str | None = None, manual_ack: bool = True
) -> aiomqtt.Client:
    """An unconnected client for membrane's persistent session.

    Manual acks are switched on before connecting: the broker resends what
    the previous session left unacknowledged as soon as the CONNACK is out,
    and any of those acknowledged automatically would be lost on a crash.
    """
    options: dict[str, Any] = {
        "hostname": settings.host,
        "port": settings.port,
        "identifier": client_id or settings.client_id,
        "username": settings.username,
        "password": _password(settings),
        "tls_context": _tls_context(settings),
        "keepalive": 30,
        "timeout": 30,
    }
    if settings.protocol == "5":
        options["protocol"] = aiomqtt.ProtocolVersion.V5
        options["clean_start"] = False
        options["properties"] = connect_properties(settings)
    else:
        options["protocol"] = aiomqtt.ProtocolVersion.V311
        options["clean_session"] = False
    client = aiomqtt.Client(**options)
    # Outgoing QoS 1 messages in flight at once; paho queues the rest in order.
    paho_client(client).max_inflight_messages_set(settings.receive_maximum)
    paho_client(client).manual_ack_set(manual_ack)
    return client


def paho_client(client: aiomqtt.Client) -> paho.Client:
    """The paho client under aiomqtt, for the two things aiomqtt 2.x does not
    expose: manual acknowledgements and the outgoing in-flight window."""
    inner: paho.Client = client._client
    return inner



def connection_ended(client: aiomqtt.Client) -> asyncio.Future[None]:
    """Completes when the connected ``client``'s connection ends, by a network
    failure or otherwise. Waiting on it notices a lost connection while
    nothing is being read; aiomqtt 2.x only reports one to a waiting reader."""
    ended: asyncio.Future[None] = client._disconnected
    return ended
