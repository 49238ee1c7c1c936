"""The guard API (protect, protected, begin) and the package's lazy exports."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.test import RequestFactory
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated, ValidationError

import drf_defender
from drf_defender import guard, signals
from drf_defender.exceptions import LockedOut
from drf_defender.guard import UnresolvedAttemptWarning, begin, protect, protected
from drf_defender.keys import KIND_IP, KIND_USERNAME
from tests.integrations.support import ALICE_PASSWORD, ATTACKER, OTHER_IP, failures

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def request_from_attacker():
    return RequestFactory().post("/login/", REMOTE_ADDR=ATTACKER)


@pytest.fixture
def failed_signals():
    calls: list[dict[str, Any]] = []

    def receive(sender: Any, **kwargs: Any) -> None:
        calls.append(kwargs)

    signals.attempt_failed.connect(receive)
    yield calls
    signals.attempt_failed.disconnect(receive)


def fail_inside_protect(request, exception, username="alice"):
    with pytest.raises(Exception) as raised, protect(request, username) as attempt:
        assert attempt.username == username
        raise exception
    return raised.value


@pytest.mark.parametrize(
    "exception",
    [
        AuthenticationFailed("wrong"),
        NotAuthenticated(),
        ValidationError("wrong"),
        DjangoPermissionDenied(),
    ],
    ids=lambda exception: type(exception).__name__,
)
def test_failure_exception_is_counted_and_reraised(service, request_from_attacker, exception):
    raised = fail_inside_protect(request_from_attacker, exception)
    assert raised is exception
    counts = failures(service, username="alice", ip=ATTACKER)
    assert counts[KIND_USERNAME] == 1
    assert counts[KIND_IP] == 1


def test_failure_over_limit_raises_locked_out(service, request_from_attacker):
    for _ in range(3):
        fail_inside_protect(request_from_attacker, AuthenticationFailed("wrong"))
    raised = fail_inside_protect(request_from_attacker, AuthenticationFailed("wrong"))
    assert isinstance(raised, LockedOut)
    assert isinstance(raised.__context__, AuthenticationFailed)


def test_blocked_client_never_runs_the_block(service, request_from_attacker):
    for _ in range(4):
        fail_inside_protect(request_from_attacker, AuthenticationFailed("wrong"))
    ran = []
    with pytest.raises(LockedOut), protect(request_from_attacker, "alice"):
        ran.append(True)
    assert ran == []


def test_other_exception_gives_reservation_back(service, request_from_attacker):
    with pytest.raises(KeyError), protect(request_from_attacker, "alice"):
        raise KeyError("not a credential problem")
    counts = failures(service, username="alice", ip=ATTACKER)
    assert counts[KIND_USERNAME] == 0
    assert counts[KIND_IP] == 0


def test_success_resets_username(service, request_from_attacker):
    fail_inside_protect(request_from_attacker, AuthenticationFailed("wrong"))
    with protect(request_from_attacker, "alice") as attempt:
        attempt.succeeded()
    assert failures(service, username="alice")[KIND_USERNAME] == 0


def test_explicit_failed_inside_block_counts_once(service, request_from_attacker):
    with protect(request_from_attacker, "alice") as attempt:
        attempt.failed()
    assert failures(service, username="alice")[KIND_USERNAME] == 1
    with pytest.raises(AuthenticationFailed), protect(request_from_attacker, "alice") as attempt:
        attempt.failed()
        raise AuthenticationFailed("wrong")
    assert failures(service, username="alice")[KIND_USERNAME] == 2


def test_unresolved_block_warns_and_counts_nothing(service, request_from_attacker, caplog):
    caplog.set_level(logging.WARNING, logger="drf_defender.guard")
    with pytest.warns(UnresolvedAttemptWarning, match="succeeded"):
        with protect(request_from_attacker, "alice"):
            pass
    assert "without attempt.succeeded()" in caplog.text
    counts = failures(service, username="alice", ip=ATTACKER)
    assert counts[KIND_USERNAME] == 0
    assert counts[KIND_IP] == 0


def test_custom_failure_exceptions(service, request_from_attacker):
    with (
        pytest.raises(LookupError),
        protect(request_from_attacker, "alice", failures=(LookupError,)),
    ):
        raise LookupError("unknown account")
    assert failures(service, username="alice")[KIND_USERNAME] == 1


def test_protect_passes_scope_ip_and_integration(service, failed_signals):
    with (
        pytest.raises(AuthenticationFailed),
        protect(None, "alice", scope="password_reset", ip=OTHER_IP, integration="sso"),
    ):
        raise AuthenticationFailed("wrong")
    assert failed_signals[0]["integration"] == "sso"
    assert failed_signals[0]["ip_address"] == OTHER_IP
    assert failed_signals[0]["scope"] == "password_reset"
    assert failures(service, username="alice", scope="password_reset")[KIND_USERNAME] == 1
    assert failures(service, username="alice")[KIND_USERNAME] == 0


def test_function_pair(service, request_from_attacker, failed_signals):
    attempt = begin(request_from_attacker, "alice")
    attempt.failed()
    assert failed_signals[0]["integration"] == "custom"
    attempt = begin(request_from_attacker, "alice")
    attempt.succeeded()
    assert failures(service, username="alice")[KIND_USERNAME] == 0


def test_decorator_reads_username_from_body(service):
    @protected()
    def check(request, password):
        if password != ALICE_PASSWORD:
            raise AuthenticationFailed("wrong")
        return "ok"

    request = RequestFactory().post("/login/", {"username": "Alice"}, REMOTE_ADDR=ATTACKER)
    with pytest.raises(AuthenticationFailed):
        check(request, "wrong")
    assert failures(service, username="alice")[KIND_USERNAME] == 1
    assert check(request, ALICE_PASSWORD) == "ok"
    assert failures(service, username="alice")[KIND_USERNAME] == 0


def test_decorator_on_method_with_username_callable(service):
    class Checker:
        @protected(username=lambda self, request, user: user, integration="api_key")
        def check(self, request, user):
            raise DjangoPermissionDenied

    request = RequestFactory().get("/", REMOTE_ADDR=ATTACKER)
    for _ in range(3):
        with pytest.raises(DjangoPermissionDenied):
            Checker().check(request, "bob")
    with pytest.raises(LockedOut):
        Checker().check(request, "bob")


def test_decorator_with_is_success(service):
    @protected(username=lambda request, user: user, is_success=bool)
    def check(request, user):
        return None

    request = RequestFactory().get("/", REMOTE_ADDR=ATTACKER)
    assert [check(request, "bob") for _ in range(3)] == [None, None, None]
    with pytest.raises(LockedOut):
        check(request, "bob")


def test_decorated_view_over_http(service, api, accounts):
    # The view has no authentication classes, so DRF turns AuthenticationFailed into a 403.
    url = "/api/custom/decorated/"
    answers = [
        api.post(url, {"username": "alice", "password": "wrong"}, format="json").status_code
        for _ in range(4)
    ]
    assert answers == [403, 403, 403, 429]


def test_custom_serializer_recipe_over_http(service, api, accounts, hasher, clock):
    url = "/api/custom/login/"
    ok = api.post(url, {"username": "alice", "password": ALICE_PASSWORD}, format="json")
    assert ok.status_code == 200
    assert ok.json() == {"username": "alice"}
    wrong = {"username": "alice", "password": "wrong"}
    answers = [api.post(url, wrong, format="json").status_code for _ in range(4)]
    assert answers == [403, 403, 403, 429]
    hasher.reset()
    locked = api.post(url, {"username": "alice", "password": ALICE_PASSWORD}, format="json")
    assert locked.status_code == 429
    assert hasher.verify_calls == 0
    clock.advance(301)
    ok = api.post(url, {"username": "alice", "password": ALICE_PASSWORD}, format="json")
    assert ok.status_code == 200


def test_package_exports_guard_names():
    assert drf_defender.protect is guard.protect
    assert drf_defender.protected is guard.protected
    assert drf_defender.begin is guard.begin
    assert drf_defender.LockedOut is LockedOut
    assert set(drf_defender.__all__) <= set(dir(drf_defender))
    with pytest.raises(AttributeError):
        drf_defender.no_such_name  # noqa: B018


def test_version_matches_package_metadata():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    declared = re.search(r'^version = "([^"]+)"$', pyproject, re.MULTILINE)
    assert declared is not None
    assert drf_defender.__version__ == declared[1]


def test_import_loads_neither_django_nor_drf():
    code = (
        "import sys, drf_defender\n"
        "print(drf_defender.__version__)\n"
        "loaded = [m for m in ('django', 'rest_framework') if m in sys.modules]\n"
        "sys.exit(1 if loaded else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == drf_defender.__version__
