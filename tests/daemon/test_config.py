"""Config and site validation: unknown keys rejected, errors name file, line and field; secrets from env."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.commands.check_config import EXIT_INVALID
from daemon.config import DEFAULT_SITE, load_config
from daemon.errors import ConfigError
from daemon.site_file import load_site
from tests.helpers import run_cli as hazwatch


def test_no_file_needed() -> None:
    """Every field has a default."""
    config = load_config(None, environ={})
    assert config.mqtt.broker == "embedded"
    assert config.database.url.startswith("sqlite:///")


def test_unknown_key_names_file_line_and_field(tmp_path: Path) -> None:
    """A typo in a section is an error that points at it."""
    path = tmp_path / "hazwatch.toml"
    path.write_text('[mqtt]\nbroker = "mqtt://x"\n\n[database]\nurll = "sqlite:///x.db"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert caught.value.issues == [f"{path}:5: database.urll: Extra inputs are not permitted"]


def test_secrets_come_from_the_environment(tmp_path: Path) -> None:
    """The broker password and database URL can stay out of the file."""
    config = load_config(None, environ={"HAZWATCH_MQTT_PASSWORD": "s3cret", "HAZWATCH_DB_URL": "postgresql://u@h/db"})
    assert config.mqtt.password is not None
    assert config.mqtt.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(config)
    assert config.database.url == "postgresql://u@h/db"


def test_site_error_points_at_the_line(tmp_path: Path) -> None:
    """A bad unit on one sensor deep in the site file is reported at its line."""
    text = DEFAULT_SITE.read_text()
    broken = text.replace("unit: nSv/h", "unit: furlongs", 1)
    path = tmp_path / "site.yaml"
    path.write_text(broken)
    line = next(i for i, row in enumerate(broken.splitlines(), start=1) if "furlongs" in row)
    with pytest.raises(ConfigError) as caught:
        load_site(path)
    (issue,) = caught.value.issues
    assert issue.startswith(f"{path}:")
    assert "devices." in issue
    assert ".sensors.0" in issue
    assert "furlongs" in issue
    reported_line = int(issue.split(":")[1])
    assert line - 12 <= reported_line <= line  # the sensor entry that holds the bad unit


def test_check_config_cli(tmp_path: Path) -> None:
    """Exit 0 on the shipped defaults, 2 with every problem printed on bad files."""
    ok = hazwatch("check-config")
    assert ok.returncode == 0, ok.stderr
    assert hazwatch("check-config", str(DEFAULT_SITE)).returncode == 0
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("[http]\nport = 99999\n")
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("site: x\nname: y\ndevices: [\n")
    result = hazwatch("check-config", str(bad_toml), str(bad_yaml))
    assert result.returncode == EXIT_INVALID
    assert f"{bad_toml}:2: http.port: Input should be less than or equal to 65535" in result.stderr
    assert f"{bad_yaml}:" in result.stderr
    assert "not valid YAML" in result.stderr
