"""``cems serve``: a real uvicorn process, over HTTPS with the given certificate."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from api.cli.main import app


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_https(
    home: Path, cert: Path, key: Path
) -> tuple[subprocess.Popen[str], str, httpx.Response]:
    """``cems serve --workers 2`` over TLS, once it answers: the process, its URL and its
    first answer to ``GET /health``.

    The free port is only probed: another process of the suite may bind it first, so a
    server that stops with "address already in use" is started again on a new port. Any other
    early exit fails the test with the server's own output.
    """
    cems = Path(sys.executable).with_name("cems")
    trust = ssl.create_default_context(cafile=str(cert))
    for _attempt in range(3):
        port = _free_port()
        process = subprocess.Popen(
            [str(cems), "serve", "--port", str(port), "--workers", "2",
             "--tls-cert", str(cert), "--tls-key", str(key)],
            env={**os.environ, "CEMS_HOME": str(home)},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        url = f"https://127.0.0.1:{port}"
        deadline = time.monotonic() + 180  # workers import the app; slow on a busy CI box
        while process.poll() is None:
            try:
                return process, url, httpx.get(f"{url}/health", verify=trust, timeout=2)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    process.kill()
                    pytest.fail(f"cems serve did not answer on {url} within 180 s")
                time.sleep(0.3)
        output = process.stdout.read() if process.stdout else ""
        if "address already in use" not in output.lower():
            pytest.fail(f"cems serve exited with {process.returncode}:\n{output[-3000:]}")
    pytest.fail("cems serve found no free port in three attempts")


def test_serve_answers_over_https_with_two_workers(cems_home, tmp_path):
    cert, key = _self_signed(tmp_path)
    process, url, response = _serve_https(cems_home, cert, key)
    try:
        trust = ssl.create_default_context(cafile=str(cert))
        assert response.status_code == 200 and response.json() == {"status": "ok"}
        for _ in range(4):
            httpx.get(f"{url}/health", verify=trust, timeout=5)
        metrics = httpx.get(f"{url}/metrics", verify=trust, timeout=5).text
        line = next(
            x for x in metrics.splitlines()
            if x.startswith('cems_http_requests_total{method="GET",route="/health",status="200"}')
        )  # fmt: skip
        assert float(line.split()[-1]) == 5.0  # both workers' counts, merged
        with pytest.raises(httpx.TransportError):
            httpx.get(url.replace("https", "http") + "/health", timeout=2)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_serve_refuses_half_a_tls_configuration(cems_home, tmp_path):
    cert, _key = _self_signed(tmp_path)
    result = CliRunner().invoke(app, ["serve", "--tls-cert", str(cert)])
    assert result.exit_code == 2
    assert "both --tls-cert and --tls-key" in result.output


_WORKER_COLLECTOR = (
    "import gc; from api.cli.serve import app_factory; app_factory(); "
    "print(*gc.get_threshold(), gc.get_freeze_count())"
)


def _python(code: str, env: dict[str, str]) -> list[int]:
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
        check=True,
    )  # fmt: skip
    return [int(x) for x in out.stdout.splitlines()[-1].split()]  # its last line


@pytest.mark.parametrize(
    ("setting", "young", "frozen"),
    [(None, 50_000, True), ("20000", 20_000, True), ("0", None, False)],
)
def test_a_server_worker_tunes_its_collector(cems_home, setting, young, frozen):
    # A fresh interpreter, as a uvicorn worker is: the test process keeps Python's defaults.
    env = {k: v for k, v in os.environ.items() if k != "CEMS_API_GC_YOUNG_THRESHOLD"}
    env["CEMS_HOME"] = str(cems_home)
    if setting is not None:
        env["CEMS_API_GC_YOUNG_THRESHOLD"] = setting
    defaults = _python("import gc; print(*gc.get_threshold())", env)
    *threshold, freeze_count = _python(_WORKER_COLLECTOR, env)
    # Only the youngest generation's threshold changes (0: none), the older ones keep Python's.
    assert threshold == [young or defaults[0], *defaults[1:]]
    # The app's start-up objects (modules, routes, schemas) are out of the collector's walk.
    assert (freeze_count > 50_000) is frozen
