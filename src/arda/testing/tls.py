"""Throw-away TLS material for tests: a CA and a server certificate for ``localhost``/``127.0.0.1``, made with
the ``openssl`` command (Debian's ``openssl`` package) in a directory of the caller's."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple


class TlsFiles(NamedTuple):
    ca: Path  # the CA certificate (what clients trust: ``ssl_ca_certs``)
    cert: Path  # the server certificate, signed by the CA
    key: Path  # its private key


def make_certificates(directory: Path, days: int = 2) -> TlsFiles:
    """Make a CA and a server certificate (SAN ``DNS:localhost``, ``IP:127.0.0.1``) in ``directory``."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl not found: apt-get install openssl")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=d, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", str(days),
        "-subj", "/CN=arda-test-ca")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (d / "san.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", str(days), "-extfile", "san.cnf",
    )  # fmt: skip
    return TlsFiles(d / "ca.crt", d / "server.crt", d / "server.key")
