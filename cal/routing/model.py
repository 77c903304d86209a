"""Endpoint: an upstream the gateway can send traffic to, as stored and as routed."""

from __future__ import annotations

import msgspec

from cal.formats import ApiFormat


class Endpoint(msgspec.Struct, frozen=True):
    """One configured upstream. `api_key` is the clear key, held in memory only."""

    name: str
    url: str
    """The provider's base URL as its SDK takes it (DESIGN §4); cal appends the API path."""
    format: ApiFormat
    api_key: str | None = None
    api_key_env: str | None = None
    """Name of an environment variable holding the key (resolved by config at load time)."""
    model_map: dict[str, str] = msgspec.field(default_factory=dict)
    priority: int = 100
    """Lower runs first."""
    enabled: bool = True
    extra_api_keys: tuple[str, ...] = ()
    """Further keys of a credential pool (clear, in memory only); `api_key` is the first."""
    connect_timeout_s: float | None = None
    """Per-endpoint timeouts; None takes the setting of the same name."""
    first_byte_timeout_s: float | None = None
    idle_timeout_s: float | None = None
    """Longest gap between two chunks of a streamed answer."""
    total_timeout_s: float | None = None

    def __repr__(self) -> str:
        """Never the key: endpoints end up in logs and tracebacks."""
        return (
            f"Endpoint(name={self.name!r}, url={self.url!r}, format={self.format!r}, "
            f"api_key={mask_key(self.api_key)!r}, api_key_env={self.api_key_env!r}, "
            f"model_map={self.model_map!r}, priority={self.priority}, enabled={self.enabled}, "
            f"extra_api_keys={[mask_key(k) for k in self.extra_api_keys]!r}, "
            f"timeouts={self.timeouts()!r})"
        )

    @property
    def api_keys(self) -> tuple[str, ...]:
        """Every stored key of the endpoint's pool, in order (empty without a stored key)."""
        return ((self.api_key,) if self.api_key else ()) + self.extra_api_keys

    def timeouts(self) -> dict[str, float]:
        """The per-endpoint timeouts that are set, by setting name."""
        values = {
            "connect_timeout_s": self.connect_timeout_s,
            "first_byte_timeout_s": self.first_byte_timeout_s,
            "idle_timeout_s": self.idle_timeout_s,
            "total_timeout_s": self.total_timeout_s,
        }
        return {k: v for k, v in values.items() if v is not None}

    def map_model(self, model: str | None) -> str | None:
        """The model name to send upstream for the client's `model`."""
        if model is None:
            return None
        return self.model_map.get(model, self.model_map.get("*", model))


def mask_key(key: str | None) -> str | None:
    """A key as it may be shown: first 4 and last 4 characters at most, never the whole."""
    if not key:
        return None
    if len(key) <= 12:
        return "****"
    return f"{key[:4]}…{key[-4:]}"
