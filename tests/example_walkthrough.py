"""Run the README's walkthrough against the example project, in this process.

Started by tests/test_example_project.py in a fresh interpreter with
DJANGO_SETTINGS_MODULE=demo_project.settings and DEMO_DATABASE pointing at a migrated
SQLite file that has the demo users. Prints one JSON object with what each step returned.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "example"))

import django

django.setup()

from rest_framework.test import APIClient  # noqa: E402


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def main() -> None:
    # The host and client address of a request to the demo served on 127.0.0.1.
    client = APIClient(HTTP_HOST="127.0.0.1:8000", REMOTE_ADDR="127.0.0.1")
    steps: dict[str, Any] = {}
    wrong = {"username": "alice", "password": "wrong-password"}

    failures = [client.post("/api/auth/login/", wrong, format="json") for _ in range(4)]
    steps["failed_statuses"] = [response.status_code for response in failures]
    steps["failed_body"] = failures[0].json()
    steps["lockout_body"] = failures[3].json()
    steps["lockout_retry_after"] = failures[3].headers.get("Retry-After")

    correct = {"username": "alice", "password": "demo-alice-password"}
    steps["locked_correct_status"] = client.post(
        "/api/auth/login/", correct, format="json"
    ).status_code

    admin = basic("admin", "demo-admin-password")
    blocks = client.get("/api/defender/blocks/", HTTP_AUTHORIZATION=admin)
    steps["blocks_status"] = blocks.status_code
    steps["blocked"] = sorted(
        (entry["kind"], entry["username"] or entry["ip"]) for entry in blocks.json()["results"]
    )

    unblock = client.post(
        "/api/defender/blocks/unblock/",
        {"username": "alice", "ip": "127.0.0.1"},
        format="json",
        HTTP_AUTHORIZATION=admin,
    )
    steps["unblock_status"] = unblock.status_code
    steps["unblock_blocked"] = unblock.json()["blocked"]

    login = client.post("/api/auth/login/", correct, format="json")
    steps["login_status"] = login.status_code
    steps["login_has_key"] = "key" in login.json()

    token = login.json().get("key", "")
    me = client.get("/api/me/", HTTP_AUTHORIZATION=f"Token {token}")
    steps["me"] = me.json()

    print(json.dumps(steps))


if __name__ == "__main__":
    main()
