"""DefenderObtainAuthToken through the real URL conf, on every backend."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token

from drf_defender.keys import KIND_IP, KIND_USERNAME
from tests.integrations.support import ALICE_PASSWORD, ATTACKER, OTHER_IP, failures

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("accounts")]

URL = "/api/auth/token/"
PLAIN_URL = "/api/auth/token/plain/"
WRONG = {"username": "alice", "password": "wrong"}
RIGHT = {"username": "alice", "password": ALICE_PASSWORD}


def post(api, data, url=URL, ip=ATTACKER, fmt="json"):
    return api.post(url, data, format=fmt, REMOTE_ADDR=ip)


def test_correct_password_returns_token(service, api, accounts):
    response = post(api, RIGHT)
    assert response.status_code == 200
    assert response.json() == {"token": Token.objects.get(user=accounts["alice"]).key}


@pytest.mark.parametrize(
    "data",
    [
        WRONG,
        {"username": "zed-unknown", "password": "wrong"},
        {"username": "carol", "password": "Inactive-Carol-3"},
        {"username": "alice"},
        {"password": "wrong"},
        {"username": "", "password": "wrong"},
        {"username": "alice", "password": ""},
        {},
    ],
    ids=[
        "wrong",
        "unknown",
        "inactive",
        "no-password",
        "no-username",
        "blank",
        "blank-pw",
        "empty",
    ],
)
def test_answers_match_drf(service, api, data):
    ours = post(api, data, ip=OTHER_IP)
    drf = post(api, data, url=PLAIN_URL, ip=OTHER_IP)
    assert ours.status_code == drf.status_code == 400
    assert ours.json() == drf.json()


def test_missing_fields_are_not_counted(service, api):
    for data in ({"username": "alice"}, {"username": "", "password": "x"}, {}):
        assert post(api, data).status_code == 400
    counts = failures(service, username="alice", ip=ATTACKER)
    assert counts[KIND_USERNAME] == 0
    assert counts[KIND_IP] == 0


def test_fourth_failure_locks_out(service, api, hasher):
    answers = [post(api, WRONG).status_code for _ in range(3)]
    assert answers == [400, 400, 400]
    locked = post(api, WRONG)
    assert locked.status_code == 429
    assert locked["Retry-After"] == "300"
    assert locked["Content-Type"] == "application/json"
    assert locked.json()["code"] == "locked_out"
    hasher.reset()
    assert post(api, RIGHT, ip=OTHER_IP).status_code == 429
    assert hasher.verify_calls == 0
    assert hasher.encode_calls == 0


def test_lockout_expires_after_cooloff(service, api, clock):
    for _ in range(4):
        post(api, WRONG)
    clock.advance(299)
    assert post(api, RIGHT).status_code == 429
    clock.advance(2)
    assert post(api, RIGHT).status_code == 200


def test_success_resets_username_failures(service, api):
    for _ in range(2):
        post(api, WRONG)
    assert post(api, RIGHT).status_code == 200
    assert failures(service, username="alice")[KIND_USERNAME] == 0
    answers = [post(api, WRONG).status_code for _ in range(4)]
    assert answers == [400, 400, 400, 429]


def test_unblock_takes_effect_at_once(service, api):
    for _ in range(4):
        post(api, WRONG)
    assert service.unblock("username", "alice") is True
    assert service.unblock("ip", ATTACKER) is True
    assert post(api, RIGHT).status_code == 200


def test_body_formats_share_one_counter(service, api):
    answers = [
        post(api, WRONG, fmt="json", ip="192.0.2.1").status_code,
        post(api, WRONG, fmt="multipart", ip="192.0.2.2").status_code,
        api.post(
            URL,
            "username=alice&password=wrong",
            content_type="application/x-www-form-urlencoded",
            REMOTE_ADDR="192.0.2.3",
        ).status_code,
        post(api, WRONG, fmt="json", ip="192.0.2.4").status_code,
    ]
    assert answers == [400, 400, 400, 429]
    assert failures(service, username="alice")[KIND_USERNAME] == 3


@pytest.mark.parametrize(
    "body",
    ['{"username": "alice", "password": ', "not json", '["alice", "wrong"]', '"alice"'],
    ids=["truncated", "text", "list", "string"],
)
def test_broken_json_gets_400(service, api, body):
    response = api.post(URL, body, content_type="application/json", REMOTE_ADDR=ATTACKER)
    assert response.status_code == 400
    counts = failures(service, username="alice", ip=ATTACKER)
    assert counts[KIND_IP] == 0


def test_username_variants_share_one_counter(service, api):
    names = ["alice", "Alice", "ALICE ", " aLice\t"]
    answers = [post(api, {"username": name, "password": "wrong"}).status_code for name in names]
    assert answers == [400, 400, 400, 429]
    assert failures(service, username="alice")[KIND_USERNAME] == 3
    assert post(api, RIGHT, ip=OTHER_IP).status_code == 429


def test_huge_username_counts_under_one_bounded_key(service, api):
    huge = "a" * 100_000
    data = {"username": huge, "password": "wrong"}
    answers = [post(api, data, ip=f"192.0.2.{index}").status_code for index in range(4)]
    assert answers == [400, 400, 400, 429]
    states = service.status(username=huge).states
    assert len(states) == 1
    assert states[0].failures == 3
    assert states[0].blocked
    assert len(states[0].subject.identity) == 42
