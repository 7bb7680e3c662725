"""Broker settings in a rules file: the ``kafka:`` and ``mqtt:`` sections.

Secrets never appear in a rules file: fields ending in ``_env`` name the
environment variable that holds the secret, read when the client connects.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from bus.rules.templates import check_template

KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How membrane connects to Kafka.

    ``bootstrap`` is ``host:port[,host:port...]``; absent means the caller
    decides (``membrane run`` starts an embedded broker).
    """

    bootstrap: str | None = None
    group_id: str = "membrane"
    client_id: str = "membrane"
    security_protocol: KafkaSecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password_env: str | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_password_env: str | None = None
    ssl_check_hostname: bool = True

    def __post_init__(self) -> None:
        if self.bootstrap is not None:
            for server in self.bootstrap.split(","):
                host, sep, port = server.strip().rpartition(":")
                if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                    raise ValueError(f"bootstrap server {server!r} must be host:port")
        sasl = self.security_protocol.startswith("SASL")
        if sasl and (self.sasl_mechanism is None or self.sasl_username is None):
            raise ValueError(f"{self.security_protocol} needs sasl_mechanism and sasl_username")
        if not sasl and self.sasl_mechanism is not None:
            raise ValueError(
                f"sasl_mechanism is set but security_protocol is {self.security_protocol}"
            )


class MqttSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How membrane connects to an MQTT broker and names MQTT agents' topics.

    ``protocol`` is ``"5"`` or ``"3.1.1"`` (quote it in YAML: an unquoted 5
    is a number). ``outbox`` and ``inbox`` are templates with ``{agent}``.
    """

    host: str = "127.0.0.1"
    port: int = 1883
    protocol: Literal["5", "3.1.1"] = "5"
    username: str | None = None
    password_env: str | None = None
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    outbox: str = "agents/{agent}/out"
    inbox: str = "agents/{agent}/in"
    quarantine_topic: str = "membrane/quarantine"
    client_id: str = "membrane"
    session_expiry: int = 3600
    receive_maximum: int = 100
    qos: Literal[0, 1, 2] = 1

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError("port must be in 1..65535")
        check_template(self.outbox, "mqtt")
        check_template(self.inbox, "mqtt")
        if any(c in self.quarantine_topic for c in "+#") or not self.quarantine_topic:
            raise ValueError("quarantine_topic must be a non-empty topic without wildcards")
        if self.session_expiry < 0:
            raise ValueError("session_expiry must not be negative")
        if not 0 < self.receive_maximum <= 65535:
            raise ValueError("receive_maximum must be in 1..65535")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
