"""Django's login form and the admin login, protected by the middleware or the mixin.

Settings come from the snippets in docs/integrations.md: the middleware line, a limit
of 3 and a cool-off of 300 seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import Client, override_settings

from drf_defender.keys import KIND_IP, KIND_USERNAME, SCOPE_LOGIN
from drf_defender.service import get_service
from tests.docs_snippets import docs_settings

pytestmark = pytest.mark.django_db

ADMIN_LOGIN_URL = "/admin/login/"
DJANGO_LOGIN_URL = "/accounts/login/"
MIXIN_LOGIN_URL = "/accounts/mixin-login/"

ATTACKER_IP = "203.0.113.10"
USER_IP = "198.51.100.20"
PASSWORD = "Correct-Horse-1"
LIMIT = 3
COOLOFF = 300
# The admin and the plain login form word this error differently around these words.
FORM_ERROR = b"correct username and password"
MIDDLEWARE_PATH = "drf_defender.integrations.django_login.DefenderLoginMiddleware"


class CountingMD5Hasher(MD5PasswordHasher):
    """MD5 hasher that counts password checks, to prove that a blocked login runs none."""

    verify_calls = 0

    def verify(self, password: str, encoded: str) -> bool:
        CountingMD5Hasher.verify_calls += 1
        return super().verify(password, encoded)


def login_snippet() -> dict[str, Any]:
    return docs_settings("integrations.md", "Django login and the admin login")


def lockout_page_snippet() -> dict[str, Any]:
    return docs_settings("integrations.md", "Django login and the admin login", "The lockout page")


@pytest.fixture
def login_settings(service: Any) -> Iterator[dict[str, Any]]:
    """The documented middleware settings, on each backend, with the test clock."""
    values = login_snippet()
    assert values["MIDDLEWARE"][-1] == MIDDLEWARE_PATH
    assert values["DEFENDER_LOGIN_FAILURE_LIMIT"] == LIMIT
    assert values["DEFENDER_COOLOFF_TIME"] == COOLOFF
    hashers = ["tests.test_django_login.CountingMD5Hasher"]
    with override_settings(PASSWORD_HASHERS=hashers, **values):
        CountingMD5Hasher.verify_calls = 0
        yield values


@pytest.fixture
def users(login_settings: dict[str, Any]) -> dict[str, Any]:
    model = get_user_model()
    alice = model.objects.create_user("alice", "alice@example.com", PASSWORD, is_staff=True)
    bob = model.objects.create_user("bob", "bob@example.com", "Battery-Staple-2")
    carol = model.objects.create_user(
        "carol", "carol@example.com", "Carol-Pass-3", is_staff=True, is_active=False
    )
    return {"alice": alice, "bob": bob, "carol": carol}


def post_login(
    url: str, username: Any, password: Any, ip: str = ATTACKER_IP, client: Client | None = None
) -> Any:
    client = client or Client()
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=ip)


def username_state(username: str) -> Any:
    states = get_service().status(username=username).states
    return next(state for state in states if state.subject.kind == KIND_USERNAME)


def assert_lockout_page(response: Any) -> None:
    assert response.status_code == 429
    # A failure that starts the lockout replaces the form page that the view rendered.
    assert "drf_defender/lockout.html" in [t.name for t in response.templates]
    assert int(response["Retry-After"]) == COOLOFF
    assert "no-store" in response["Cache-Control"]
    assert b"Too many failed login attempts" in response.content


@pytest.mark.parametrize("url", [ADMIN_LOGIN_URL, DJANGO_LOGIN_URL, MIXIN_LOGIN_URL])
def test_fourth_wrong_password_locks(users: dict[str, Any], url: str) -> None:
    for _ in range(LIMIT):
        response = post_login(url, "alice", "wrong")
        assert response.status_code == 200
        assert FORM_ERROR in response.content

    locked = post_login(url, "alice", "wrong")

    assert_lockout_page(locked)
    assert username_state("alice").blocked


@pytest.mark.parametrize("url", [ADMIN_LOGIN_URL, DJANGO_LOGIN_URL, MIXIN_LOGIN_URL])
def test_blocked_login_never_checks_password(users: dict[str, Any], url: str) -> None:
    for _ in range(LIMIT + 1):
        post_login(url, "alice", "wrong")
    assert CountingMD5Hasher.verify_calls > 0
    CountingMD5Hasher.verify_calls = 0

    response = post_login(url, "alice", PASSWORD, ip=USER_IP)

    assert_lockout_page(response)
    assert [t.name for t in response.templates] == ["drf_defender/lockout.html"]
    assert CountingMD5Hasher.verify_calls == 0


def test_correct_password_on_fourth_attempt_logs_in(users: dict[str, Any]) -> None:
    for _ in range(LIMIT):
        post_login(ADMIN_LOGIN_URL, "alice", "wrong")

    client = Client()
    response = post_login(ADMIN_LOGIN_URL, "alice", PASSWORD, client=client)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(users["alice"].pk)
    assert username_state("alice").failures == 0


def test_success_forgives_own_failures(users: dict[str, Any]) -> None:
    post_login(ADMIN_LOGIN_URL, "alice", "wrong", ip=USER_IP)
    post_login(ADMIN_LOGIN_URL, "alice", "wrong", ip=USER_IP)

    assert post_login(ADMIN_LOGIN_URL, "alice", PASSWORD, ip=USER_IP).status_code == 302

    assert username_state("alice").failures == 0
    for _ in range(LIMIT):
        assert post_login(ADMIN_LOGIN_URL, "alice", "wrong", ip=USER_IP).status_code == 200


def test_counters_shared_with_api(users: dict[str, Any]) -> None:
    post_login(ADMIN_LOGIN_URL, "alice", "wrong", ip="198.51.100.1")
    post_login(DJANGO_LOGIN_URL, "Alice", "wrong", ip="198.51.100.2")
    assert username_state("alice").failures == 2

    # An API integration counts through the same service call.
    attempt = get_service().begin(
        username="alice", ip="198.51.100.3", scope=SCOPE_LOGIN, integration="basic"
    )
    attempt.failed()
    assert username_state("alice").failures == LIMIT

    assert_lockout_page(post_login(ADMIN_LOGIN_URL, "alice", "wrong", ip="198.51.100.4"))


def test_ip_counted_across_usernames(users: dict[str, Any]) -> None:
    for name in ["alice", "bob", "zed-unknown"]:
        assert post_login(ADMIN_LOGIN_URL, name, "wrong").status_code == 200

    assert_lockout_page(post_login(ADMIN_LOGIN_URL, "carol", "wrong"))
    ip_state = next(
        s for s in get_service().status(ip=ATTACKER_IP).states if s.subject.kind == KIND_IP
    )
    assert ip_state.blocked


def test_unknown_username_locks_alike(users: dict[str, Any]) -> None:
    known = [post_login(ADMIN_LOGIN_URL, "alice", "wrong", ip=f"198.51.100.{i}") for i in range(4)]
    unknown = [
        post_login(ADMIN_LOGIN_URL, "zed-unknown", "wrong", ip=f"198.51.100.{10 + i}")
        for i in range(4)
    ]

    assert [r.status_code for r in known] == [200, 200, 200, 429]
    assert [r.status_code for r in unknown] == [200, 200, 200, 429]
    assert known[LIMIT].content == unknown[LIMIT].content
    assert known[LIMIT]["Retry-After"] == unknown[LIMIT]["Retry-After"]


def test_inactive_user_gets_usual_error(users: dict[str, Any]) -> None:
    wrong = post_login(ADMIN_LOGIN_URL, "carol", "wrong", ip="198.51.100.1")
    right = post_login(ADMIN_LOGIN_URL, "carol", "Carol-Pass-3", ip="198.51.100.2")

    for response in (wrong, right):
        assert response.status_code == 200
        assert FORM_ERROR in response.content
    # Django's backend rejects inactive users like a wrong password, so both count.
    assert username_state("carol").failures == 2


def test_non_staff_correct_password_not_counted(users: dict[str, Any]) -> None:
    response = post_login(ADMIN_LOGIN_URL, "bob", "Battery-Staple-2")

    assert response.status_code == 200
    assert username_state("bob").failures == 0


def test_lockout_expires_after_cooloff(users: dict[str, Any], clock: Any) -> None:
    for _ in range(LIMIT + 1):
        post_login(ADMIN_LOGIN_URL, "alice", "wrong")
    clock.advance(COOLOFF - 1)
    locked = post_login(ADMIN_LOGIN_URL, "alice", PASSWORD)
    assert locked.status_code == 429
    assert locked["Retry-After"] == "1"

    clock.advance(2)

    assert post_login(ADMIN_LOGIN_URL, "alice", PASSWORD).status_code == 302


def test_unblock_takes_effect_at_once(users: dict[str, Any]) -> None:
    for _ in range(LIMIT + 1):
        post_login(ADMIN_LOGIN_URL, "alice", "wrong")
    assert_lockout_page(post_login(ADMIN_LOGIN_URL, "alice", PASSWORD))

    assert get_service().unblock(KIND_USERNAME, "alice", actor="test")
    assert get_service().unblock(KIND_IP, ATTACKER_IP, actor="test")

    assert post_login(ADMIN_LOGIN_URL, "alice", PASSWORD).status_code == 302


def test_get_requests_not_counted(users: dict[str, Any]) -> None:
    for _ in range(LIMIT + 2):
        assert Client().get(ADMIN_LOGIN_URL, REMOTE_ADDR=ATTACKER_IP).status_code == 200

    assert get_service().status(ip=ATTACKER_IP).states[0].failures == 0


def test_mixin_view_not_counted_twice(users: dict[str, Any]) -> None:
    post_login(MIXIN_LOGIN_URL, "alice", "wrong")

    assert username_state("alice").failures == 1


def test_mixin_view_protected_without_middleware(users: dict[str, Any]) -> None:
    middleware = [m for m in login_snippet()["MIDDLEWARE"] if m != MIDDLEWARE_PATH]
    with override_settings(MIDDLEWARE=middleware):
        for _ in range(LIMIT):
            assert post_login(MIXIN_LOGIN_URL, "alice", "wrong").status_code == 200
        assert_lockout_page(post_login(MIXIN_LOGIN_URL, "alice", "wrong"))
        # Without the middleware the plain LoginView is not protected.
        assert post_login(DJANGO_LOGIN_URL, "bob", "wrong", ip=USER_IP).status_code == 200
        assert username_state("bob").failures == 0


def test_lockout_url_redirects(users: dict[str, Any]) -> None:
    url = lockout_page_snippet()["DEFENDER_LOCKOUT_URL"]
    with override_settings(DEFENDER_LOCKOUT_URL=url):
        for _ in range(LIMIT):
            post_login(ADMIN_LOGIN_URL, "alice", "wrong")
        started = post_login(ADMIN_LOGIN_URL, "alice", "wrong")
        refused = post_login(ADMIN_LOGIN_URL, "alice", PASSWORD)

    for response in (started, refused):
        assert response.status_code == 302
        assert response["Location"] == "/locked/"
    assert CountingMD5Hasher.verify_calls > 0


CUSTOM_TEMPLATE = (
    "LOCKED limit={{ failure_limit }} cooloff={{ cooloff_time_seconds }}s/"
    "{{ cooloff_time_minutes }}min retry={{ retry_after }}s/{{ retry_after_minutes }}min "
    "scope={{ scope }}"
)


def _templates_with(extra: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "OPTIONS": {
                "context_processors": [
                    "django.template.context_processors.request",
                    "django.contrib.auth.context_processors.auth",
                    "django.contrib.messages.context_processors.messages",
                ],
                "loaders": [
                    ("django.template.loaders.locmem.Loader", extra),
                    "django.template.loaders.app_directories.Loader",
                ],
            },
        }
    ]


def test_custom_lockout_template(users: dict[str, Any], clock: Any) -> None:
    name = lockout_page_snippet()["DEFENDER_LOCKOUT_TEMPLATE"]
    with override_settings(
        DEFENDER_LOCKOUT_TEMPLATE=name, TEMPLATES=_templates_with({name: CUSTOM_TEMPLATE})
    ):
        for _ in range(LIMIT + 1):
            post_login(ADMIN_LOGIN_URL, "alice", "wrong")
        clock.advance(100)
        response = post_login(ADMIN_LOGIN_URL, "alice", PASSWORD)

    assert response.status_code == 429
    assert response["Retry-After"] == "200"
    assert response.content.decode() == (
        "LOCKED limit=3 cooloff=300s/5min retry=200s/4min scope=login"
    )


def test_missing_lockout_template_falls_back(
    users: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with override_settings(DEFENDER_LOCKOUT_TEMPLATE="missing/lockout.html"):
        for _ in range(LIMIT):
            post_login(ADMIN_LOGIN_URL, "alice", "wrong")
        with caplog.at_level(logging.ERROR, logger="drf_defender.lockout_page"):
            response = post_login(ADMIN_LOGIN_URL, "alice", "wrong")

    assert_lockout_page(response)
    assert "missing/lockout.html" in caplog.text


def test_lockout_status_code_setting(users: dict[str, Any]) -> None:
    with override_settings(DEFENDER_LOCKOUT_STATUS_CODE=403):
        for _ in range(LIMIT + 1):
            response = post_login(ADMIN_LOGIN_URL, "alice", "wrong")

    assert response.status_code == 403
    assert response["Retry-After"] == str(COOLOFF)


def test_denied_username_gets_lockout_page(users: dict[str, Any]) -> None:
    with override_settings(DEFENDER_USERNAME_DENYLIST=["alice"]):
        response = post_login(ADMIN_LOGIN_URL, "alice", PASSWORD)

    assert response.status_code == 429
    assert "Retry-After" not in response
    assert CountingMD5Hasher.verify_calls == 0


def _post_raw(body: bytes, content_type: str) -> Any:
    return Client().generic(
        "POST", ADMIN_LOGIN_URL, body, content_type=content_type, REMOTE_ADDR=ATTACKER_IP
    )


BAD_REQUESTS: list[tuple[str, Callable[[], Any]]] = [
    ("json body", lambda: _post_raw(b'{"username": "alice", "password": "x"}', "application/json")),
    ("broken json", lambda: _post_raw(b'{"username": ', "application/json")),
    ("no fields", lambda: _post_raw(b"", "application/x-www-form-urlencoded")),
    ("no password", lambda: _post_raw(b"username=alice", "application/x-www-form-urlencoded")),
    (
        "bad utf-8",
        lambda: _post_raw(b"username=%ff%fe&password=x", "application/x-www-form-urlencoded"),
    ),
    (
        "raw bytes",
        lambda: _post_raw(b"username=\xff\xfe&password=x", "application/x-www-form-urlencoded"),
    ),
    ("huge username", lambda: post_login(ADMIN_LOGIN_URL, "a" * 20_000, "x")),
    ("odd username", lambda: post_login(ADMIN_LOGIN_URL, "{al ice}\u202e\u0000", "x")),
    ("bad boundary", lambda: _post_raw(b"--x\r\nbroken", "multipart/form-data; boundary=")),
    (
        "too many fields",
        lambda: _post_raw(
            b"&".join(b"f%d=1" % i for i in range(1200)), "application/x-www-form-urlencoded"
        ),
    ),
]


@pytest.mark.parametrize(("case", "send"), BAD_REQUESTS, ids=[case for case, _ in BAD_REQUESTS])
def test_bad_input_never_500(users: dict[str, Any], case: str, send: Callable[[], Any]) -> None:
    response = send()

    assert response.status_code < 500, case
    assert response.status_code in (200, 400), case


@pytest.fixture
def stopped_backend(redis_server: Any, redis_prefix: str) -> Iterator[None]:
    """The documented settings on a Redis server that this test started and stopped."""
    server = redis_server()
    values = {
        **login_snippet(),
        "DEFENDER_BACKEND": "drf_defender.backends.redis.RedisBackend",
        "DEFENDER_REDIS_URL": server.url,
        "DEFENDER_CACHE_PREFIX": redis_prefix,
        "DEFENDER_REDIS_SOCKET_TIMEOUT": 0.3,
        "DEFENDER_REDIS_CONNECT_TIMEOUT": 0.3,
        "PASSWORD_HASHERS": ["tests.test_django_login.CountingMD5Hasher"],
    }
    with override_settings(**values):
        get_user_model().objects.create_user("alice", "alice@example.com", PASSWORD, is_staff=True)
        server.stop()
        CountingMD5Hasher.verify_calls = 0
        yield


def test_backend_down_fail_closed(stopped_backend: None) -> None:
    with override_settings(DEFENDER_BACKEND_FAILURE_POLICY="closed"):
        response = post_login(ADMIN_LOGIN_URL, "alice", PASSWORD)

    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/plain")
    assert b"temporarily unavailable" in response.content
    assert CountingMD5Hasher.verify_calls == 0


def test_backend_down_fail_open(stopped_backend: None) -> None:
    wrong = post_login(ADMIN_LOGIN_URL, "alice", "wrong")
    right = post_login(ADMIN_LOGIN_URL, "alice", PASSWORD)

    assert wrong.status_code == 200
    assert FORM_ERROR in wrong.content
    assert right.status_code == 302
