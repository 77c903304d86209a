"""Settings precedence and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from cal import config


def test_defaults_derive_paths_from_the_data_dir(tmp_path: Path) -> None:
    settings = config.load({"data_dir": tmp_path}, environ={})
    assert settings.db_path == tmp_path / "code-agent-lens.db"
    assert settings.dump_dir == tmp_path / "observability"
    assert (settings.gateway_host, settings.gateway_port) == ("127.0.0.1", 3010)
    assert settings.portal_url == "http://127.0.0.1:3011/debug/obs"


def test_env_overrides_profile_and_cli_overrides_env(tmp_path: Path) -> None:
    env = {
        "CODE_AGENT_LENS_DATA_DIR": str(tmp_path),
        "CODE_AGENT_LENS_OBS_CAPTURE_BODIES": "metadata",
        "CODE_AGENT_LENS_OBS_DUMP_ENABLED": "false",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
    }
    settings = config.load(
        {"capture_bodies": "none"}, environ=env, profile={"capture_headers": "metadata"}
    )
    assert settings.capture_bodies == "none"
    assert settings.capture_headers == "metadata"
    assert settings.dump_enabled is False
    assert settings.otel_enabled is True


def test_bad_values_name_the_setting(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="dump_enabled"):
        config.load({"data_dir": tmp_path}, environ={"CODE_AGENT_LENS_OBS_DUMP_ENABLED": "maybe"})
    with pytest.raises(config.ConfigError):
        config.load({"data_dir": tmp_path, "capture_bodies": "some"}, environ={})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:3010", ("127.0.0.1", 3010)),
        (":0", ("127.0.0.1", 0)),
        ("4000", ("127.0.0.1", 4000)),
        ("[::1]:3010", ("::1", 3010)),
    ],
)
def test_parse_host_port(text: str, expected: tuple[str, int]) -> None:
    assert config.parse_host_port(text) == expected


def test_parse_host_port_rejects_junk() -> None:
    with pytest.raises(config.ConfigError):
        config.parse_host_port("host:port")
