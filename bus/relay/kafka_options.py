"""aiokafka client options from the rules file's ``kafka:`` section.

Secrets are read from the environment variables the settings name, at the
moment a client is built, and never logged (``bus.secrets``). A missing
variable is a ``ConfigError`` naming the setting.
"""

from __future__ import annotations

from typing import Any

from aiokafka.helpers import create_ssl_context

from bus.errors import ConfigError
from bus.rules.transports import KafkaSettings
from bus.secrets import from_env


def _secret(variable: str | None, setting: str) -> str | None:
    return from_env(variable, f"$.kafka.{setting}")


def client_options(settings: KafkaSettings, bootstrap: str) -> dict[str, Any]:
    """Keyword arguments shared by every producer, consumer and admin client."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        try:
            context = create_ssl_context(
                cafile=settings.ssl_cafile,
                certfile=settings.ssl_certfile,
                keyfile=settings.ssl_keyfile,
                password=_secret(settings.ssl_password_env, "ssl_password_env"),
            )
        except OSError as exc:
            raise ConfigError(f"cannot load TLS files: {exc}", path="$.kafka") from exc
        context.check_hostname = settings.ssl_check_hostname
        options["ssl_context"] = context
    if settings.security_protocol.startswith("SASL"):
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = _secret(settings.sasl_password_env, "sasl_password_env")
    return options
