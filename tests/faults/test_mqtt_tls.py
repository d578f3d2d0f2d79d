"""MQTT over TLS with a username and password, against a Mosquitto with a self-signed CA made here with openssl:
readings flow (MQTT 5, acknowledged after commit).

(A broker whose certificate another CA signed is refused too, but paho leaves the socket of each failed handshake
to the garbage collector, whose ResourceWarning then fails whichever test runs next: not tested here.)"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from rules.site import Site
from tests.conftest import free_port, running_service, service_config, wait_port
from tests.faults.harness import RUN_AS
from tests.helpers import eventually, senml

pytestmark = pytest.mark.timeout(120)


def make_ca(directory: Path, name: str) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it: (ca.crt, server.crt, server.key)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = directory / "ca.key", directory / "ca.crt"
    key, csr, crt = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run = ["openssl"]
    subprocess.run([*run, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name} CA",
                    "-keyout", str(ca_key), "-out", str(ca_crt)], check=True, capture_output=True)  # fmt: skip
    subprocess.run([*run, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                    "-keyout", str(key), "-out", str(csr)], check=True, capture_output=True)  # fmt: skip
    subprocess.run([*run, "x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
                    "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(crt)],
                   check=True, capture_output=True)  # fmt: skip
    return ca_crt, crt, key


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """Mosquitto with TLS only and a password file (user hazwatch / device gamma-01): (port, CA file)."""
    ca, crt, key = make_ca(tmp_path / "pki", "hazwatch test")
    passwords = tmp_path / "passwd"
    passwords.touch()
    for user, password in (("hazwatch", "service-pw"), ("gamma-01", "device-pw")):
        subprocess.run(["mosquitto_passwd", "-b", str(passwords), user, password], check=True, capture_output=True)
    port = free_port()
    config = tmp_path / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\ncafile {ca}\ncertfile {crt}\nkeyfile {key}\n"
        f"allow_anonymous false\npassword_file {passwords}\npersistence false\nuser {RUN_AS}\n"
    )
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    process = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield port, ca
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_readings_flow_over_tls_with_a_password(
    tls_broker: tuple[int, Path], sqlite_url: str, demo_site: Site, unique: str
) -> None:
    """The service connects with mqtts://, the CA and its password; a device's reading is stored."""
    port, ca = tls_broker
    config = service_config(f"mqtts://hazwatch@127.0.0.1:{port}", sqlite_url, f"tls{unique}", f"svc{unique}")
    config.mqtt.ca_file = ca
    config.mqtt.password = "service-pw"  # type: ignore[assignment]  # pydantic turns it into a SecretStr
    config.ingest.decode_workers = 0
    config = config.model_validate(config.model_dump())
    async with running_service(config, demo_site) as service:
        context = ssl.create_default_context(cafile=str(ca))
        async with aiomqtt.Client(
            "127.0.0.1", port, username="gamma-01", password="device-pw", tls_context=context
        ) as device:
            now = service.clock.now()
            await device.publish(
                f"tls{unique}/demo-park/gamma-01", senml("gamma-01", [("dose_rate", 90.0, None)], now), qos=1
            )

        async def acked() -> float:
            return service.metrics.registry.get_sample_value("hazwatch_mqtt_acks_total") or 0.0

        assert await eventually(acked, timeout=20) == 1.0
        assert service.metrics.registry.get_sample_value("hazwatch_ingest_readings_total") == 1.0
