"""Redis URL forms that deployments use reach a working backend through a login.

Plain, password and socket URLs are covered in tests/test_redis_config.py. This module
adds TLS (``rediss://``) against a throwaway redis-server, with a certificate that the
``openssl`` command makes for the test.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import redis
from rest_framework.test import APIClient

from tests.hardening.support import ATTACKER, ENTRIES_BY_NAME, LIMIT, WRONG_PASSWORD, failures
from tests.redis_servers import find_free_port

pytestmark = pytest.mark.django_db


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """Create a certificate and key for 127.0.0.1 with openssl; return their paths."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail(
            "The TLS test needs the openssl command to make a certificate; install OpenSSL "
            "(`apt-get install openssl`).",
            pytrace=False,
        )
    certificate, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(certificate),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return certificate, key


def test_tls_url_counts_logins(
    hardened: dict[str, Any],
    accounts: Any,
    redis_server: Any,
    settings: Any,
    tmp_path: Path,
) -> None:
    certificate, key = self_signed_certificate(tmp_path)
    tls_port = find_free_port()
    # The plain port stays open for the server helper's readiness check.
    server = redis_server(
        extra_args=[
            "--tls-port",
            str(tls_port),
            "--tls-cert-file",
            str(certificate),
            "--tls-key-file",
            str(key),
            "--tls-ca-cert-file",
            str(certificate),
            "--tls-auth-clients",
            "no",
        ]
    )
    settings.DEFENDER_REDIS_URL = f"rediss://127.0.0.1:{tls_port}/3"
    settings.DEFENDER_REDIS_OPTIONS = {"ssl_ca_certs": str(certificate)}
    entry = ENTRIES_BY_NAME["dj_rest_auth"]
    client = APIClient(REMOTE_ADDR=ATTACKER)

    outcomes = [
        entry.outcome(entry.send(client, "alice", WRONG_PASSWORD)) for _ in range(LIMIT + 1)
    ]

    assert outcomes == ["bad"] * LIMIT + ["locked"]
    assert failures(username="alice")["username"] == LIMIT
    plain = redis.Redis(host="127.0.0.1", port=server.port, db=3)
    try:
        assert plain.dbsize() > 0
    finally:
        plain.close()
