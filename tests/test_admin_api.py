"""The admin API over real HTTP requests, on both backends, against real lockouts."""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from django.contrib import admin
from django.core.checks import run_checks
from django.core.management import call_command
from django.test import override_settings
from django.urls import path
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from drf_defender import signals
from drf_defender.admin_api import permissions
from drf_defender.admin_api.checks import check_admin_api_urls
from drf_defender.admin_api.serializers import MAX_BLOCK_SECONDS, MAX_PAGE_SIZE
from drf_defender.backends import build_backend
from drf_defender.exceptions import LockedOut
from drf_defender.models import AccessAttempt
from drf_defender.service import LockoutService

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.urls("tests.admin_api_urls"),
    # The test settings' SECRET_KEY is shorter than PyJWT recommends for HS256.
    pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"),
]

API = "/api/defender/"
ATTACKER = "203.0.113.10"
OTHER_IP = "198.51.100.20"
ADMIN_IP = "192.0.2.50"
ADMIN_PASSWORD = "root-pass"
ALICE_PASSWORD = "alice-pass"

# A URLconf without the admin API, for the system check.
urlpatterns = [path("admin/", admin.site.urls)]


# --- fixtures and helpers ---------------------------------------------------------------


@pytest.fixture
def admin_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(
        "root", password=ADMIN_PASSWORD, is_staff=True, is_superuser=True
    )


@pytest.fixture
def plain_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("carol", password="carol-pass")


@pytest.fixture
def alice(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("alice", password=ALICE_PASSWORD)


@pytest.fixture
def api(admin_user: Any) -> APIClient:
    """A client logged in as a staff user through the session."""
    client = APIClient(REMOTE_ADDR=ADMIN_IP)
    client.force_login(admin_user)
    return client


class Recorder:
    """Collect the keyword arguments of every send of some signals."""

    def __init__(self, *names: str) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._receivers = []
        for name in names:
            signal = getattr(signals, name)

            def receive(sender: Any, _name: str = name, **kwargs: Any) -> None:
                kwargs.pop("signal", None)
                self.calls.append((_name, kwargs))

            signal.connect(receive, weak=False)
            self._receivers.append((signal, receive))

    def names(self) -> list[str]:
        return [name for name, _kwargs in self.calls]

    def close(self) -> None:
        for signal, receive in self._receivers:
            signal.disconnect(receive)


@pytest.fixture
def recorder() -> Iterator[type[Recorder]]:
    made: list[Recorder] = []

    class Made(Recorder):
        def __init__(self, *names: str) -> None:
            super().__init__(*names)
            made.append(self)

    yield Made
    for item in made:
        item.close()


def token_login(username: str, password: str, ip: str = ATTACKER) -> int:
    """Log in through DefenderObtainAuthToken; return the status code."""
    response = APIClient().post(
        "/api/token/", {"username": username, "password": password}, format="json", REMOTE_ADDR=ip
    )
    return response.status_code


def lock_out(username: str = "alice", ip: str = ATTACKER) -> None:
    """Lock ``username`` and ``ip`` out with wrong passwords through a login endpoint."""
    codes = [token_login(username, "wrong", ip) for _ in range(4)]
    assert codes == [400, 400, 400, 429]


def results(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.content
    return list(response.json()["results"])


def labels(response: Any) -> set[tuple[str, str]]:
    return {(entry["kind"], entry["label"]) for entry in results(response)}


# --- access control ------------------------------------------------------------------------

ENDPOINTS = [
    ("get", "blocks/", None),
    ("post", "blocks/", {"kind": "ip", "ip": "192.0.2.1", "duration": 60}),
    ("post", "blocks/unblock/", {"kind": "ip", "ip": "192.0.2.1"}),
    ("post", "blocks/unblock-all/", {"kind": "ip"}),
    ("get", "status/?username=alice", None),
    ("get", "lists/", None),
    ("get", "lists/ip_deny/", None),
    ("post", "lists/ip_deny/entries/", {"value": "192.0.2.0/24"}),
    ("delete", "lists/ip_deny/entries/?value=192.0.2.99", None),
    ("get", "attempts/", None),
    ("get", "attempts/1/", None),
    ("get", "summary/", None),
]
ENDPOINT_IDS = [f"{method} {url}" for method, url, _body in ENDPOINTS]


def call(client: APIClient, method: str, url: str, body: Any) -> Any:
    kwargs = {"format": "json"} if body is not None else {}
    return getattr(client, method)(API + url, body, **kwargs)


@pytest.mark.parametrize(("method", "url", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_staff_user_reaches_endpoint(service, api, method, url, body):
    response = call(api, method, url, body)

    # The attempt and the list entry in the table do not exist, so those return 404.
    assert response.status_code in (200, 201, 404), response.content
    if response.status_code == 404:
        assert url in ("attempts/1/", "lists/ip_deny/entries/?value=192.0.2.99")
        assert response.json()["code"] == "not_found"


@pytest.mark.parametrize(("method", "url", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_non_staff_user_gets_403(service, plain_user, method, url, body):
    client = APIClient()
    client.force_login(plain_user)

    response = call(client, method, url, body)

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


@pytest.mark.parametrize(("method", "url", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_anonymous_gets_401_with_challenge(service, method, url, body):
    response = call(APIClient(), method, url, body)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.urls("tests.urls")
def test_project_urlconf_serves_api(service, api, plain_user):
    assert api.get(API + "blocks/").status_code == 200
    client = APIClient()
    client.force_login(plain_user)
    assert client.get(API + "blocks/").status_code == 403
    assert APIClient().get(API + "blocks/").status_code == 401


def test_session_only_authentication_answers_403(service):
    classes = ["rest_framework.authentication.SessionAuthentication"]
    with override_settings(DEFENDER_ADMIN_API_AUTHENTICATION_CLASSES=classes):
        response = APIClient().get(API + "blocks/")

    # Without a scheme that can send a challenge, DRF returns 403 instead of 401.
    assert response.status_code == 403
    assert "WWW-Authenticate" not in response.headers


def test_permission_classes_setting(service, plain_user):
    client = APIClient()
    client.force_login(plain_user)
    classes = ["rest_framework.permissions.IsAuthenticated"]
    with override_settings(DEFENDER_ADMIN_API_PERMISSION_CLASSES=classes):
        assert client.get(API + "blocks/").status_code == 200


@pytest.mark.parametrize(
    "value",
    ["rest_framework.permissions.IsAdminUser", ["no.such.Permission"], [42]],
    ids=["string", "missing", "not-a-class"],
)
def test_permission_setting_errors(value):
    from django.core.exceptions import ImproperlyConfigured

    with override_settings(DEFENDER_ADMIN_API_PERMISSION_CLASSES=value):
        with pytest.raises(ImproperlyConfigured, match="DEFENDER_ADMIN_API_PERMISSION_CLASSES"):
            permissions.permission_classes()


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


AUTHENTICATION = {
    "session": "rest_framework.authentication.SessionAuthentication",
    "basic": "rest_framework.authentication.BasicAuthentication",
    "token": "rest_framework.authentication.TokenAuthentication",
    "jwt": "rest_framework_simplejwt.authentication.JWTAuthentication",
    "defender-basic": "drf_defender.integrations.rest_framework.DefenderBasicAuthentication",
    "defender-token": "drf_defender.integrations.rest_framework.DefenderTokenAuthentication",
}


@pytest.mark.parametrize("scheme", list(AUTHENTICATION))
def test_any_drf_authentication_works(service, admin_user, scheme):
    client = APIClient(REMOTE_ADDR=ADMIN_IP)
    if scheme == "session":
        client.force_login(admin_user)
    elif scheme in ("basic", "defender-basic"):
        client.credentials(HTTP_AUTHORIZATION=_basic("root", ADMIN_PASSWORD))
    elif scheme in ("token", "defender-token"):
        key = Token.objects.create(user=admin_user).key
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    else:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(admin_user)}")

    with override_settings(DEFENDER_ADMIN_API_AUTHENTICATION_CLASSES=[AUTHENTICATION[scheme]]):
        listed = client.get(API + "blocks/")
        blocked = client.post(
            API + "blocks/", {"kind": "username", "username": "mallory"}, format="json"
        )

    assert listed.status_code == 200
    assert blocked.status_code == 201
    assert service.status(username="mallory").blocked


def test_missing_include_is_a_system_check_error(settings):
    settings.DEFENDER_ADMIN_API_ENABLED = True
    settings.ROOT_URLCONF = __name__

    errors = check_admin_api_urls()

    assert [error.id for error in errors] == ["drf_defender.E201"]
    assert any(error.id == "drf_defender.E201" for error in run_checks(tags=["urls"]))


def test_included_api_passes_system_check(settings):
    settings.DEFENDER_ADMIN_API_ENABLED = True
    settings.ROOT_URLCONF = "tests.urls"
    assert check_admin_api_urls() == []


def test_disabled_api_skips_system_check(settings):
    settings.ROOT_URLCONF = __name__
    assert check_admin_api_urls() == []


def test_locked_admin_ip_recovers_with_plain_token(service, admin_user, alice):
    # An attacker locks out the IP the administrator works from.
    for _ in range(4):
        token_login("nobody", "wrong", ip=ADMIN_IP)
    key = Token.objects.create(user=admin_user).key
    client = APIClient(REMOTE_ADDR=ADMIN_IP)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    unblock = {"kind": "ip", "ip": ADMIN_IP}

    # With drf-defender's own token class, the admin API is not exempt from lockout.
    defender_token = [AUTHENTICATION["defender-token"]]
    with override_settings(DEFENDER_ADMIN_API_AUTHENTICATION_CLASSES=defender_token):
        refused = client.post(API + "blocks/unblock/", unblock, format="json")
    assert refused.status_code == 429

    # Configuring DRF's token class for the admin API is the recovery path.
    with override_settings(DEFENDER_ADMIN_API_AUTHENTICATION_CLASSES=[AUTHENTICATION["token"]]):
        response = client.post(API + "blocks/unblock/", unblock, format="json")
    assert response.status_code == 200
    assert response.json()["cleared"][0]["was_blocked"] is True

    with override_settings(DEFENDER_ADMIN_API_AUTHENTICATION_CLASSES=defender_token):
        assert client.get(API + "blocks/").status_code == 200


# --- listing blocks -----------------------------------------------------------------------


def test_list_shows_real_lockouts(service, clock, api, alice):
    started = clock.now
    lock_out()
    clock.advance(100)

    entries = results(api.get(API + "blocks/"))

    assert {(entry["kind"], entry["label"]) for entry in entries} == {
        ("ip", ATTACKER),
        ("username", "alice"),
    }
    for entry in entries:
        assert entry["blocked"] is True
        assert entry["manual"] is False
        assert entry["permanent"] is False
        assert entry["lockout_count"] == 1
        assert entry["seconds_left"] == 200
        assert entry["blocked_since"] == datetime.fromtimestamp(started, UTC).isoformat().replace(
            "+00:00", "Z"
        )
    by_kind = {entry["kind"]: entry for entry in entries}
    assert by_kind["ip"]["ip"] == ATTACKER
    assert by_kind["ip"]["username"] is None
    assert by_kind["username"]["username"] == "alice"


def test_list_filters_by_kind(service, api, alice):
    lock_out()

    assert labels(api.get(API + "blocks/?kind=username")) == {("username", "alice")}
    assert labels(api.get(API + "blocks/?kind=ip")) == {("ip", ATTACKER)}
    assert labels(api.get(API + "blocks/?kind=ipusername")) == set()


def test_list_filters_by_scope(service, api):
    service.block("username", "alice", scope="password_reset", duration=60)

    assert labels(api.get(API + "blocks/")) == set()
    assert labels(api.get(API + "blocks/?scope=password_reset")) == {("username", "alice")}


def test_pagination_across_kinds(service, api):
    for number in range(3):
        service.block("ip", f"192.0.2.{number}", duration=60 + number)
    for name in ("dave", "erin"):
        service.block("username", name, duration=60)
    service.block("ipusername", "192.0.2.9|frank", duration=0)

    seen: list[tuple[str, str]] = []
    url: str | None = API + "blocks/?limit=2"
    pages = 0
    while url is not None and pages < 10:
        body = api.get(url).json()
        assert body["count"] == 6
        seen.extend((entry["kind"], entry["label"]) for entry in body["results"])
        url = body["next"]
        pages += 1

    assert pages == 3
    assert len(seen) == 6
    assert set(seen) == {
        ("ip", "192.0.2.0"),
        ("ip", "192.0.2.1"),
        ("ip", "192.0.2.2"),
        ("username", "dave"),
        ("username", "erin"),
        ("ipusername", "192.0.2.9 frank"),
    }
    # Within a kind, the block that ends first comes first.
    assert seen[:3] == [("ip", "192.0.2.0"), ("ip", "192.0.2.1"), ("ip", "192.0.2.2")]

    last = api.get(API + "blocks/?limit=2&offset=4").json()
    assert last["next"] is None
    assert "offset=2" in last["previous"]
    first = api.get(API + "blocks/?limit=2&offset=1").json()
    assert "offset" not in first["previous"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        (f"limit={MAX_PAGE_SIZE + 1}", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("kind=group", "kind"),
        ("scope=signup", "scope"),
    ],
)
def test_list_rejects_bad_query(service, api, query, field):
    response = api.get(f"{API}blocks/?{query}")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["errors"]) == [field]


# --- manual blocks ------------------------------------------------------------------------


def test_manual_username_block_stops_login(service, clock, api, alice):
    response = api.post(
        API + "blocks/", {"kind": "username", "username": "Alice ", "duration": 60}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert body["label"] == "alice"
    assert body["manual"] is True
    assert body["seconds_left"] == 60
    assert token_login("alice", ALICE_PASSWORD) == 429
    clock.advance(61)
    assert token_login("alice", ALICE_PASSWORD) == 200


def test_manual_ip_block_stops_every_username(service, api, alice):
    api.post(API + "blocks/", {"kind": "ip", "ip": ATTACKER, "duration": 60}, format="json")

    assert token_login("alice", ALICE_PASSWORD, ip=ATTACKER) == 429
    assert token_login("alice", ALICE_PASSWORD, ip=OTHER_IP) == 200


def test_manual_pair_block(service, api, alice):
    body = {"kind": "ipusername", "ip": ATTACKER, "username": "alice", "duration": 60}
    assert api.post(API + "blocks/", body, format="json").status_code == 201

    status = service.status(username="alice", ip=ATTACKER)
    assert [state.subject.kind for state in status.states if state.blocked] == ["ipusername"]


def test_permanent_block_until_unblocked(service, clock, api, alice):
    body = {"kind": "username", "username": "alice", "duration": 0}
    created = api.post(API + "blocks/", body, format="json").json()

    assert created["permanent"] is True
    assert created["seconds_left"] is None
    assert created["blocked_until"] is None
    clock.advance(10 * 365 * 24 * 3600)
    assert token_login("alice", ALICE_PASSWORD) == 429

    api.post(API + "blocks/unblock/", {"kind": "username", "username": "alice"}, format="json")
    assert token_login("alice", ALICE_PASSWORD) == 200


def test_block_without_duration_uses_scope_default(service, api):
    body = {"kind": "ip", "ip": ATTACKER}
    created = api.post(API + "blocks/", body, format="json").json()

    assert created["seconds_left"] == 300


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"kind": "ip", "ip": "203.0.113.300"}, ["ip"]),
        ({"kind": "ip", "ip": "203.0.113.0/24"}, ["ip"]),
        ({"kind": "username", "username": "   "}, ["username"]),
        ({"kind": "username", "username": ""}, ["username"]),
        ({"kind": "username", "username": "bob", "duration": -1}, ["duration"]),
        ({"kind": "username", "username": "bob", "duration": MAX_BLOCK_SECONDS + 1}, ["duration"]),
        ({"kind": "username", "username": "bob", "duration": "soon"}, ["duration"]),
        ({"username": "bob"}, ["kind"]),
        ({"kind": "group", "username": "bob"}, ["kind"]),
        ({"kind": "ip"}, ["ip"]),
        ({"kind": "ipusername", "ip": ATTACKER}, ["username"]),
        ({"kind": "username", "username": "bob", "scope": "signup"}, ["scope"]),
        ({"kind": "username", "username": ["bob"]}, ["username"]),
    ],
)
def test_block_rejects_bad_input(service, api, body, fields):
    response = api.post(API + "blocks/", body, format="json")

    assert response.status_code == 400
    assert sorted(response.json()["errors"]) == fields
    assert service.list_blocked("username")[0] == 0
    assert service.list_blocked("ip")[0] == 0


def test_block_rejects_broken_json(service, api):
    response = api.post(API + "blocks/", "{not json", content_type="application/json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "parse_error"
    assert body["errors"] == {}


def test_block_rejects_form_body(service, api):
    response = api.post(API + "blocks/", {"kind": "ip", "ip": ATTACKER})

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_block_sends_signals_and_logs_actor(service, api, recorder, caplog):
    calls = recorder("username_block", "lockout")

    with caplog.at_level(logging.INFO, logger="drf_defender.service"):
        api.post(
            API + "blocks/", {"kind": "username", "username": "bob", "duration": 60}, format="json"
        )

    assert calls.names() == ["username_block", "lockout"]
    assert calls.calls[1][1]["manual"] is True
    assert calls.calls[1][1]["seconds"] == 60
    assert any("root blocked username" in record.getMessage() for record in caplog.records)


# --- unblocking -----------------------------------------------------------------------------


def test_unblock_ip_reports_username_still_blocked(service, api, alice):
    lock_out()

    response = api.post(
        API + "blocks/unblock/", {"kind": "ip", "ip": ATTACKER, "username": "alice"}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert [entry["kind"] for entry in body["cleared"]] == ["ip"]
    cleared = body["cleared"][0]
    assert cleared["was_blocked"] is True
    assert cleared["failures"] == 3
    assert cleared["lockout_count"] == 1
    prefix = service.backend.prefix
    assert cleared["keys"] == [
        f"{prefix}:blocked:ip:{{{ATTACKER}}}",
        f"{prefix}:failed:ip:{{{ATTACKER}}}",
        f"{prefix}:lockouts:ip:{{{ATTACKER}}}",
    ]
    assert body["blocked"] is True
    assert [entry["kind"] for entry in body["still_blocked"]] == ["username"]
    assert token_login("alice", ALICE_PASSWORD) == 429


def test_unblock_ip_then_username_restores_login(service, api, alice, backend_name, request):
    lock_out()

    api.post(API + "blocks/unblock/", {"kind": "ip", "ip": ATTACKER}, format="json")
    assert token_login("alice", ALICE_PASSWORD) == 429

    response = api.post(
        API + "blocks/unblock/", {"kind": "username", "username": "alice"}, format="json"
    )
    assert response.json()["blocked"] is False
    assert token_login("alice", ALICE_PASSWORD) == 200
    assert results(api.get(API + "blocks/")) == []

    if backend_name == "redis":
        # The successful login gives its reservation back with the next backend call.
        service.flush_pending_writes()
        client: redis.Redis = request.getfixturevalue("redis_client")
        prefix = service.backend.prefix
        keys = {key.decode() for key in client.scan_iter(match=f"{prefix}*", count=500)}
        # Only the IP's failure counter may survive, emptied by the successful login.
        ip_counter = f"{prefix}:failed:ip:{{{ATTACKER}}}"
        assert keys <= {ip_counter}
        if keys:
            assert client.hget(ip_counter, "c") == b"0"


def test_unblock_identity_clears_every_subject(service, api, alice, backend_name, request):
    lock_out()
    api.post(
        API + "blocks/",
        {"kind": "ipusername", "ip": ATTACKER, "username": "alice", "duration": 60},
        format="json",
    )

    response = api.post(
        API + "blocks/unblock/", {"ip": ATTACKER, "username": "alice"}, format="json"
    )

    body = response.json()
    assert {entry["kind"] for entry in body["cleared"]} == {"ip", "username", "ipusername"}
    assert all(entry["was_blocked"] for entry in body["cleared"])
    assert body["still_blocked"] == []
    assert body["blocked"] is False
    assert token_login("alice", ALICE_PASSWORD) == 200

    if backend_name == "redis":
        service.flush_pending_writes()
        client: redis.Redis = request.getfixturevalue("redis_client")
        prefix = service.backend.prefix
        left = {key.decode() for key in client.scan_iter(match=f"{prefix}*", count=500)}
        assert left <= {f"{prefix}:failed:ip:{{{ATTACKER}}}"}


def test_unblock_subject_that_is_not_blocked(service, api):
    response = api.post(
        API + "blocks/unblock/", {"kind": "username", "username": "nobody"}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert body["cleared"][0]["was_blocked"] is False
    assert body["cleared"][0]["keys"] == []
    assert body["blocked"] is False


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ["non_field_errors"]),
        ({"kind": "ip", "username": "alice"}, ["ip"]),
        ({"kind": "ipusername", "ip": ATTACKER}, ["username"]),
        ({"ip": "localhost"}, ["ip"]),
        ({"username": " \t "}, ["username"]),
        ({"kind": "everything", "ip": ATTACKER}, ["kind"]),
    ],
)
def test_unblock_rejects_bad_input(service, api, body, fields):
    response = api.post(API + "blocks/unblock/", body, format="json")

    assert response.status_code == 400
    assert sorted(response.json()["errors"]) == fields


def test_unblock_sends_signals_and_logs_actor(service, api, recorder, caplog):
    service.block("ip", ATTACKER, duration=60)
    calls = recorder("ip_unblock", "unblock")

    with caplog.at_level(logging.INFO, logger="drf_defender.service"):
        api.post(API + "blocks/unblock/", {"kind": "ip", "ip": ATTACKER}, format="json")

    assert calls.names() == ["ip_unblock", "unblock"]
    assert calls.calls[1][1]["reason"] == "ip"
    assert any("root unblocked ip" in record.getMessage() for record in caplog.records)


def test_unblock_of_unblocked_subject_logs_no_block(service, api, caplog):
    with caplog.at_level(logging.INFO, logger="drf_defender.service"):
        api.post(API + "blocks/unblock/", {"kind": "ip", "ip": ATTACKER}, format="json")

    messages = [record.getMessage() for record in caplog.records]
    assert any("root found no block on ip" in message for message in messages)
    assert not any("unblocked" in message for message in messages)


def test_unblock_seen_by_another_process(service, api, alice):
    # A second service with its own backend connection and its own memory of blocks
    # stands for another worker process.
    other = LockoutService(backend=build_backend())
    lock_out()
    with pytest.raises(LockedOut):
        other.begin(username="alice", ip=ATTACKER)

    api.post(API + "blocks/unblock/", {"ip": ATTACKER, "username": "alice"}, format="json")

    attempt = other.begin(username="alice", ip=ATTACKER)
    attempt.succeeded()


def test_command_line_unblock_shows_in_api(service, api, alice):
    lock_out()

    call_command("defender_unblock", "--ip", ATTACKER, stdout=io.StringIO())

    assert labels(api.get(API + "blocks/")) == {("username", "alice")}
    status = api.get(API + "status/", {"username": "alice", "ip": ATTACKER}).json()
    assert [entry["kind"] for entry in status["subjects"] if entry["blocked"]] == ["username"]
    assert status["blocked"] is True


def test_unblock_all_of_one_kind(service, api, recorder):
    for number in range(3):
        service.block("ip", f"192.0.2.{number}", duration=60)
    service.block("username", "dave", duration=60)
    calls = recorder("ip_unblock")

    response = api.post(API + "blocks/unblock-all/", {"kind": "ip"}, format="json")

    body = response.json()
    assert body["count"] == 3
    assert sorted(body["labels"]) == ["192.0.2.0", "192.0.2.1", "192.0.2.2"]
    assert len(calls.calls) == 3
    assert labels(api.get(API + "blocks/")) == {("username", "dave")}


def test_unblock_all_rejects_missing_kind(service, api):
    response = api.post(API + "blocks/unblock-all/", {}, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["kind"]


def test_hashed_username_round_trip(service, api):
    long_name = "Ölaf-" + "x" * 80
    for number in range(4):
        token_login(long_name, "wrong", ip=f"192.0.2.{number}")

    (entry,) = results(api.get(API + "blocks/?kind=username"))
    assert entry["username"].startswith("h:")
    status = api.get(API + "status/", {"username": entry["username"]}).json()
    assert status["blocked"] is True

    response = api.post(
        API + "blocks/unblock/", {"kind": "username", "username": entry["username"]}, format="json"
    )

    assert response.json()["cleared"][0]["was_blocked"] is True
    assert results(api.get(API + "blocks/?kind=username")) == []


# --- identity status ----------------------------------------------------------------------------


def test_status_shows_failure_counts(service, api, alice):
    token_login("alice", "wrong")
    token_login("alice", "wrong")

    body = api.get(API + "status/", {"username": "alice", "ip": ATTACKER}).json()

    assert body["blocked"] is False
    assert body["seconds_left"] == 0
    failures = {entry["kind"]: entry["failures"] for entry in body["subjects"]}
    assert failures == {"ip": 2, "username": 2, "ipusername": 2}
    assert {entry["limit"] for entry in body["subjects"]} == {3}


def test_status_of_locked_identity(service, clock, api, alice):
    lock_out()
    clock.advance(30)

    body = api.get(API + "status/", {"username": "alice"}).json()

    assert body["blocked"] is True
    assert body["seconds_left"] == 270
    (entry,) = body["subjects"]
    assert entry["kind"] == "username"
    assert entry["lockout_count"] == 1


def test_status_reports_lists(service, api):
    api.post(API + "lists/username_deny/entries/", {"value": "mallory"}, format="json")
    with override_settings(DEFENDER_IP_ALLOWLIST=["10.0.0.0/8"]):
        denied = api.get(API + "status/", {"username": "Mallory"}).json()
        allowed = api.get(API + "status/", {"ip": "10.1.2.3"}).json()

    assert denied["denylisted"] is True
    assert denied["allowlisted"] is False
    assert allowed["allowlisted"] is True
    assert allowed["denylisted"] is False


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ({}, ["non_field_errors"]),
        ({"ip": "999.1.1.1"}, ["ip"]),
        ({"username": "  "}, ["username"]),
        ({"username": "alice", "scope": "everything"}, ["scope"]),
    ],
)
def test_status_rejects_bad_query(service, api, query, fields):
    response = api.get(API + "status/", query)

    assert response.status_code == 400
    assert sorted(response.json()["errors"]) == fields


# --- allow and deny lists -----------------------------------------------------------------------


def test_deny_list_round_trip_affects_login(service, api, alice, recorder):
    calls = recorder("list_entry_added", "list_entry_removed")

    added = api.post(API + "lists/ip_deny/entries/", {"value": "203.0.113.99/24"}, format="json")
    assert added.status_code == 201
    assert added.json() == {"name": "ip_deny", "value": "203.0.113.0/24", "changed": True}
    assert token_login("alice", ALICE_PASSWORD, ip=ATTACKER) == 429

    again = api.post(API + "lists/ip_deny/entries/", {"value": "203.0.113.0/24"}, format="json")
    assert again.status_code == 200
    assert again.json()["changed"] is False
    listed = api.get(API + "lists/ip_deny/").json()
    assert listed["entries"] == ["203.0.113.0/24"]

    removed = api.delete(API + "lists/ip_deny/entries/?value=203.0.113.7/24")
    assert removed.status_code == 200
    assert token_login("alice", ALICE_PASSWORD, ip=ATTACKER) == 200
    assert api.delete(API + "lists/ip_deny/entries/?value=203.0.113.0/24").status_code == 404

    assert calls.names() == ["list_entry_added", "list_entry_removed"]
    assert calls.calls[0][1] == {"list_name": "ip_deny", "value": "203.0.113.0/24", "actor": "root"}


def test_allow_list_exempts_username(service, api, alice):
    api.post(API + "lists/username_allow/entries/", {"value": "ALICE"}, format="json")

    codes = [token_login("alice", "wrong", ip=f"192.0.2.{number}") for number in range(6)]

    assert codes == [400] * 6
    assert api.get(API + "lists/username_allow/").json()["entries"] == ["alice"]


def test_username_entries_match_by_identity(service, api):
    api.post(API + "lists/username_deny/entries/", {"value": " Bob"}, format="json")

    again = api.post(API + "lists/username_deny/entries/", {"value": "BOB"}, format="json")
    assert again.status_code == 200
    assert again.json()["changed"] is False

    removed = api.delete(API + "lists/username_deny/entries/?value=bOb%20")
    assert removed.status_code == 200
    assert api.get(API + "lists/username_deny/").json()["entries"] == []


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("2001:DB8::1", "2001:db8::1"),
        ("2001:db8::1/64", "2001:db8::/64"),
        ("::ffff:10.1.2.3", "10.1.2.3"),
        ("::ffff:10.0.0.0/104", "10.0.0.0/8"),
        (" 192.0.2.1/32 ", "192.0.2.1"),
    ],
)
def test_ip_entries_are_canonical(service, api, value, canonical):
    response = api.post(API + "lists/ip_allow/entries/", {"value": value}, format="json")

    assert response.json()["value"] == canonical


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ip_deny", "not-an-ip"),
        ("ip_deny", "10.0.0.0/33"),
        ("ip_allow", "203.0.113.7:80"),
        ("ip_allow", ""),
        ("username_deny", "   "),
        ("username_allow", ""),
    ],
)
def test_list_rejects_bad_values(service, api, name, value):
    response = api.post(API + f"lists/{name}/entries/", {"value": value}, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["value"]
    assert api.get(API + f"lists/{name}/").json()["entries"] == []


def test_unknown_list_is_404(service, api):
    for response in (
        api.get(API + "lists/ip_block/"),
        api.post(API + "lists/ip_block/entries/", {"value": "192.0.2.1"}, format="json"),
        api.delete(API + "lists/ip_block/entries/?value=192.0.2.1"),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


def test_lists_show_configured_entries(service, api):
    with override_settings(DEFENDER_USERNAME_DENYLIST=["eve"]):
        body = api.get(API + "lists/").json()

    by_name = {entry["name"]: entry for entry in body}
    assert list(by_name) == ["username_allow", "username_deny", "ip_allow", "ip_deny"]
    assert by_name["username_deny"]["configured"] == ["eve"]
    assert by_name["username_deny"]["kind"] == "username"
    assert by_name["username_deny"]["effect"] == "deny"


# --- access attempts --------------------------------------------------------------------------


def jwt_login(username: str, password: str, ip: str = OTHER_IP) -> int:
    """Log in through DefenderTokenObtainPairView; return the status code."""
    body = {"username": username, "password": password}
    return APIClient().post("/api/jwt/", body, format="json", REMOTE_ADDR=ip).status_code


@pytest.fixture
def store_attempts(settings: Any) -> None:
    """Write access-attempt rows inline, as a project does by default."""
    settings.DEFENDER_STORE_ACCESS_ATTEMPTS = True
    settings.DEFENDER_ACCESS_LOG_MODE = "inline"


@pytest.fixture
def logins(service, clock, alice, django_user_model, store_attempts):
    """Make attempts through several login endpoints at known times."""
    django_user_model.objects.create_user("bob", password="bob-pass")
    start = clock.now
    token_login("alice", "wrong", ip=ATTACKER)
    clock.advance(60)
    token_login("alice", ALICE_PASSWORD, ip=ATTACKER)
    clock.advance(60)
    jwt_login("bob", "wrong")
    clock.advance(60)
    jwt_login("bob", "bob-pass")
    return start


def _usernames(response: Any) -> list[tuple[str, bool]]:
    return [(entry["username"], entry["login_valid"]) for entry in results(response)]


def test_attempts_list_newest_first(logins, api):
    body = api.get(API + "attempts/").json()

    assert body["count"] == 4
    assert [(entry["username"], entry["login_valid"]) for entry in body["results"]] == [
        ("bob", True),
        ("bob", False),
        ("alice", True),
        ("alice", False),
    ]
    first = body["results"][0]
    assert first["integration"] == "simplejwt"
    assert first["ip_address"] == OTHER_IP
    assert first["path_info"] == "/api/jwt/"
    assert first["scope"] == "login"


def test_attempts_filters(logins, api):
    get = api.get
    assert _usernames(get(API + "attempts/", {"username": "ALICE"})) == [
        ("alice", True),
        ("alice", False),
    ]
    assert {u for u, _ in _usernames(get(API + "attempts/", {"ip": OTHER_IP}))} == {"bob"}
    assert _usernames(get(API + "attempts/", {"success": "false"})) == [
        ("bob", False),
        ("alice", False),
    ]
    query = {"success": "true", "integration": "obtain_token"}
    assert _usernames(get(API + "attempts/", query)) == [("alice", True)]
    assert _usernames(get(API + "attempts/", {"locked_out": "true"})) == []
    assert _usernames(get(API + "attempts/", {"scope": "password_reset"})) == []


def test_attempts_time_range_and_ordering(logins, api):
    since = datetime.fromtimestamp(logins + 60, UTC)
    until = datetime.fromtimestamp(logins + 180, UTC)

    response = api.get(
        API + "attempts/",
        {"since": since.isoformat(), "until": until.isoformat(), "ordering": "attempt_time"},
    )

    assert _usernames(response) == [("alice", True), ("bob", False)]


def test_attempts_pagination(logins, api):
    seen = []
    url: str | None = API + "attempts/?limit=3&ordering=id"
    for _page in range(5):
        if url is None:
            break
        body = api.get(url).json()
        seen.extend(entry["id"] for entry in body["results"])
        url = body["next"]

    assert url is None
    assert seen == sorted(AccessAttempt.objects.values_list("id", flat=True))


def test_attempt_detail(logins, api):
    attempt = AccessAttempt.objects.get(username="bob", login_valid=True)

    body = api.get(f"{API}attempts/{attempt.pk}/").json()

    assert body["id"] == attempt.pk
    assert body["username"] == "bob"
    assert body["login_valid"] is True
    assert datetime.fromisoformat(body["attempt_time"]) == attempt.attempt_time


@pytest.mark.parametrize("key", ["999999", "abc", "1.5", "-1", "9" * 40])
def test_attempt_detail_not_found(service, api, key):
    response = api.get(f"{API}attempts/{key}/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ({"success": "maybe"}, ["success"]),
        ({"since": "yesterday"}, ["since"]),
        ({"since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"}, ["until"]),
        ({"ordering": "password"}, ["ordering"]),
        ({"ip": "1.2.3"}, ["ip"]),
        ({"username": " "}, ["username"]),
        ({"limit": "1000"}, ["limit"]),
        ({"scope": "admin"}, ["scope"]),
    ],
)
def test_attempts_reject_bad_filters(service, api, query, fields):
    response = api.get(API + "attempts/", query)

    assert response.status_code == 400
    assert sorted(response.json()["errors"]) == fields


# --- summary ----------------------------------------------------------------------------------


def test_summary_counts_windows_and_blocks(service, clock, api):
    current = datetime.fromtimestamp(clock.now, UTC)

    def row(minutes_ago: int, *, valid: bool, locked: bool = False, ip: str = ATTACKER) -> None:
        AccessAttempt.objects.create(
            attempt_time=current - timedelta(minutes=minutes_ago),
            ip_address=ip,
            username="alice",
            username_normalized="alice",
            login_valid=valid,
            locked_out=locked,
            integration="basic",
            scope="login",
        )

    row(5, valid=False)
    row(10, valid=False, ip=OTHER_IP)
    row(20, valid=False, locked=True)
    row(30, valid=True)
    row(120, valid=False)
    row(23 * 60, valid=True)
    row(25 * 60, valid=False)
    AccessAttempt.objects.create(
        attempt_time=current, login_valid=False, scope="password_reset", username="x"
    )
    service.block("ip", "192.0.2.1", duration=60)
    service.block("ip", "192.0.2.2", duration=60)
    service.block("username", "bob", duration=0)

    body = api.get(API + "summary/").json()

    hour, day = body["windows"]["last_hour"], body["windows"]["last_day"]
    assert hour["seconds"] == 3600
    assert (hour["failures"], hour["successes"], hour["lockouts"]) == (3, 1, 1)
    assert (hour["failed_ips"], hour["failed_usernames"]) == (2, 1)
    assert (day["failures"], day["successes"], day["lockouts"]) == (4, 2, 1)
    assert body["currently_blocked"] == {"username": 1, "ip": 2, "ipusername": 0, "total": 3}
    assert body["generated_at"].startswith(current.strftime("%Y-%m-%dT%H:%M"))


def test_summary_from_real_lockouts(service, api, alice, store_attempts):
    lock_out()

    body = api.get(API + "summary/").json()

    assert body["windows"]["last_hour"]["failures"] == 4
    assert body["windows"]["last_hour"]["lockouts"] == 1
    assert body["currently_blocked"]["total"] == 2


# --- backend outage ---------------------------------------------------------------------------

SERVICE_ENDPOINTS = [entry for entry in ENDPOINTS if not entry[1].startswith("attempts/")]


@pytest.fixture
def stopped_redis(redis_server: Any, redis_prefix: str) -> Iterator[None]:
    server = redis_server()
    url = server.url
    server.stop()
    values = {
        "DEFENDER_BACKEND": "drf_defender.backends.redis.RedisBackend",
        "DEFENDER_REDIS_URL": url,
        "DEFENDER_CACHE_PREFIX": redis_prefix,
    }
    with override_settings(**values):
        yield


@pytest.mark.parametrize(
    ("method", "url", "body"), SERVICE_ENDPOINTS, ids=[f"{m} {u}" for m, u, _b in SERVICE_ENDPOINTS]
)
def test_backend_down_answers_503(stopped_redis, api, method, url, body, caplog):
    with caplog.at_level(logging.ERROR, logger="drf_defender.admin_api.views"):
        response = call(api, method, url, body)

    assert response.status_code == 503
    assert response.json()["code"] == "lockout_backend_unavailable"
    assert any("unavailable" in record.getMessage() for record in caplog.records)


def test_attempts_work_while_backend_down(stopped_redis, api):
    assert api.get(API + "attempts/").status_code == 200
