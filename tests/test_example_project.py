"""The example project: its checks, demo users, loopback guard and README walkthrough.

Each test runs ``example/manage.py`` (or a script with the example's settings) in a fresh
interpreter, because the example has its own settings module.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
MANAGE = ROOT / "example" / "manage.py"


def run_example(
    database: Path, *args: str, env: dict[str, str] | None = None, script: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``manage.py ARGS`` (or ``script``) with the demo settings and ``database``."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DEMO_") and key != "REDIS_URL"
    }
    environment.update(
        {
            "DJANGO_SETTINGS_MODULE": "demo_project.settings",
            "DEMO_DATABASE": str(database),
            **(env or {}),
        }
    )
    command = [sys.executable, str(script)] if script else [sys.executable, str(MANAGE), *args]
    return subprocess.run(
        command,
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def load_loopback_module() -> ModuleType:
    """Import example/demo/loopback.py, which needs neither Django nor the example's path."""
    spec = importlib.util.spec_from_file_location(
        "example_demo_loopback", ROOT / "example" / "demo" / "loopback.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def demo_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a migrated SQLite file of the example with its demo users."""
    database = tmp_path_factory.mktemp("example") / "db.sqlite3"
    migrate = run_example(database, "migrate", "--verbosity", "0")
    assert migrate.returncode == 0, migrate.stderr
    users = run_example(database, "demo_users", "--skip-checks")
    assert users.returncode == 0, users.stderr
    assert "Demo staff user 'admin': created." in users.stdout
    assert "Demo user 'alice': created." in users.stdout
    return database


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("0", False),
        ("::", False),
        ("[::]", False),
        ("192.0.2.10", False),
        ("example.com", False),
        ("localhost.example.com", False),
        ("", False),
    ],
)
def test_loopback_host_detection(host: str, expected: bool) -> None:
    assert load_loopback_module().is_loopback_host(host) is expected


def test_example_system_checks_pass(tmp_path: Path) -> None:
    result = run_example(tmp_path / "db.sqlite3", "check", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_demo_users_unchanged_on_rerun(demo_database: Path) -> None:
    result = run_example(demo_database, "demo_users", "--skip-checks")

    assert result.returncode == 0, result.stderr
    assert "Demo staff user 'admin': unchanged." in result.stdout
    assert "Demo user 'alice': unchanged." in result.stdout


def test_demo_users_reset_changed_password(demo_database: Path) -> None:
    changed = run_example(
        demo_database, "demo_users", "--skip-checks", env={"DEMO_ALICE_PASSWORD": "other-pass"}
    )
    restored = run_example(demo_database, "demo_users", "--skip-checks")

    assert changed.returncode == 0, changed.stderr
    assert "Demo user 'alice': reset." in changed.stdout
    assert "Demo staff user 'admin': unchanged." in changed.stdout
    assert restored.returncode == 0, restored.stderr
    assert "Demo user 'alice': reset." in restored.stdout


def test_demo_users_reject_non_loopback_host(demo_database: Path) -> None:
    result = run_example(
        demo_database, "demo_users", "--skip-checks", env={"DEMO_BIND_HOST": "0.0.0.0"}
    )

    assert result.returncode == 1
    assert "DEMO_BIND_HOST is '0.0.0.0', which is not a loopback address" in result.stderr
    assert "created" not in result.stdout


def test_runserver_rejects_non_loopback_address(demo_database: Path) -> None:
    result = run_example(demo_database, "runserver", "--noreload", "--skip-checks", "0:8000")

    assert result.returncode == 1
    assert "serves only on loopback, not on '0'" in result.stderr


def test_walkthrough_matches_readme(demo_database: Path) -> None:
    result = run_example(demo_database, script=ROOT / "tests" / "example_walkthrough.py")

    assert result.returncode == 0, result.stderr
    steps = json.loads(result.stdout.strip().splitlines()[-1])
    assert steps["failed_statuses"] == [400, 400, 400, 429]
    assert steps["failed_body"] == {
        "non_field_errors": ["Unable to log in with provided credentials."]
    }
    assert steps["lockout_body"]["code"] == "locked_out"
    assert steps["lockout_body"]["retry_after"] == 300
    assert steps["lockout_retry_after"] == "300"
    assert steps["locked_correct_status"] == 429
    assert steps["blocks_status"] == 200
    assert steps["blocked"] == [["ip", "127.0.0.1"], ["username", "alice"]]
    assert steps["unblock_status"] == 200
    assert steps["unblock_blocked"] is False
    assert steps["login_status"] == 200
    assert steps["login_has_key"] is True
    assert steps["me"]["username"] == "alice"
    assert steps["me"]["authenticated_by"] == "DefenderTokenAuthentication"
