"""DefenderBasicAuthentication through the real URL conf, on every backend."""

from __future__ import annotations

import pytest
from django.test import override_settings

from drf_defender.keys import KIND_IP, KIND_USERNAME
from tests.integrations.support import (
    ALICE_PASSWORD,
    ATTACKER,
    OTHER_IP,
    basic,
    basic_raw,
    blocked,
    failures,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("drf_auth_settings", "accounts")]

ME = "/api/me/"


def get_me(api, authorization, ip=ATTACKER):
    return api.get(ME, HTTP_AUTHORIZATION=authorization, REMOTE_ADDR=ip)


def test_correct_password_authenticates(service, api):
    response = get_me(api, basic("alice", ALICE_PASSWORD))
    assert response.status_code == 200
    assert response.json() == {
        "username": "alice",
        "authenticator": "DefenderBasicAuthentication",
    }


def test_wrong_password_keeps_drf_answer(service, api):
    response = get_me(api, basic("alice", "wrong"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Basic realm="api"'
    assert response.json() == {"detail": "Invalid username/password."}
    counts = failures(service, username="alice", ip=ATTACKER)
    assert counts[KIND_IP] == 1
    assert counts[KIND_USERNAME] == 1


def test_fourth_failure_locks_out(service, api, hasher):
    answers = [get_me(api, basic("alice", "wrong")).status_code for _ in range(3)]
    assert answers == [401, 401, 401]

    locked = get_me(api, basic("alice", "wrong"))
    assert locked.status_code == 429
    assert locked["Retry-After"] == "300"
    assert locked["Content-Type"] == "application/json"
    assert locked.json()["code"] == "locked_out"
    assert locked.json()["retry_after"] == 300

    hasher.reset()
    correct = get_me(api, basic("alice", ALICE_PASSWORD))
    assert correct.status_code == 429
    assert hasher.verify_calls == 0
    assert hasher.encode_calls == 0


def test_blocked_username_rejected_from_any_ip(service, api, hasher):
    for _ in range(4):
        get_me(api, basic("alice", "wrong"))
    hasher.reset()
    response = get_me(api, basic("alice", ALICE_PASSWORD), ip=OTHER_IP)
    assert response.status_code == 429
    assert hasher.verify_calls == 0


def test_blocked_ip_rejected_for_any_username(service, api, hasher):
    for name in ("u1", "u2", "u3", "u4"):
        get_me(api, basic(name, "wrong"))
    assert blocked(service, ip=ATTACKER) == {KIND_IP: True}
    hasher.reset()
    response = get_me(api, basic("bob", "Battery-Staple-2"))
    assert response.status_code == 429
    assert hasher.verify_calls == 0
    assert hasher.encode_calls == 0


def test_lockout_expires_after_cooloff(service, api, clock):
    for _ in range(4):
        get_me(api, basic("alice", "wrong"))
    clock.advance(299)
    assert get_me(api, basic("alice", ALICE_PASSWORD)).status_code == 429
    clock.advance(2)
    assert get_me(api, basic("alice", ALICE_PASSWORD)).status_code == 200


def test_success_resets_username_failures(service, api):
    for _ in range(2):
        get_me(api, basic("alice", "wrong"))
    assert get_me(api, basic("alice", ALICE_PASSWORD)).status_code == 200
    assert failures(service, username="alice")[KIND_USERNAME] == 0
    # The budget is whole again: three more failures before the lockout.
    answers = [get_me(api, basic("alice", "wrong")).status_code for _ in range(4)]
    assert answers == [401, 401, 401, 429]


def test_unblock_takes_effect_at_once(service, api):
    for _ in range(4):
        get_me(api, basic("alice", "wrong"))
    assert get_me(api, basic("alice", ALICE_PASSWORD)).status_code == 429
    assert service.unblock("username", "alice") is True
    assert service.unblock("ip", ATTACKER) is True
    assert get_me(api, basic("alice", ALICE_PASSWORD)).status_code == 200


def test_username_case_shares_one_counter(service, api):
    answers = [
        get_me(api, basic(name, "wrong")).status_code
        for name in ("alice", "Alice", "ALICE", "aLice")
    ]
    assert answers == [401, 401, 401, 429]
    assert get_me(api, basic("alice", ALICE_PASSWORD), ip=OTHER_IP).status_code == 429
    assert failures(service, username="alice")[KIND_USERNAME] == 3
    assert service.status(username="Alice").blocked
    assert service.unblock("username", "ALICE") is True
    assert get_me(api, basic("alice", ALICE_PASSWORD), ip=OTHER_IP).status_code == 200


@override_settings(DEFENDER_LOCK_OUT_BY_IP_AND_USERNAME=True)
def test_surrounding_whitespace_does_not_escape_block(service, api):
    for _ in range(4):
        get_me(api, basic("alice", "wrong"))
    variants = ["alice ", "alice  ", " alice", "alice\t", "alice\u00a0"]
    for variant in variants:
        response = get_me(api, basic(variant, "wrong"))
        assert response.status_code == 429, variant
    assert get_me(api, basic("alice ", ALICE_PASSWORD)).status_code == 429
    assert failures(service, username="alice", ip=ATTACKER)["ipusername"] == 3


def test_utf8_and_latin1_passwords_both_work(service, api, accounts):
    accounts["alice"].set_password("pässwörd")
    accounts["alice"].save()
    utf8 = get_me(api, basic("alice", "pässwörd", encoding="utf-8"))
    latin1 = get_me(api, basic("alice", "pässwörd", encoding="latin-1"))
    assert utf8.status_code == 200
    assert latin1.status_code == 200


def test_invalid_utf8_password_counts_for_username(service, api):
    response = get_me(api, basic_raw(b"alice:\xff\xfe"))
    assert response.status_code == 401
    assert failures(service, username="alice")[KIND_USERNAME] == 1


def test_password_may_contain_colons(service, api, accounts):
    accounts["alice"].set_password("pa:ss:word")
    accounts["alice"].save()
    assert get_me(api, basic("alice", "pa:ss:word")).status_code == 200


def test_missing_colon_never_means_empty_password(service, api, django_user_model):
    # An account whose password is the empty string logs in with "nopass:" ...
    user = django_user_model.objects.create_user("nopass")
    user.set_password("")
    user.save()
    assert get_me(api, basic("nopass", "")).status_code == 200
    # ... but never with "nopass" alone, which is malformed and counts for the IP only.
    response = get_me(api, basic_raw(b"nopass"), ip=OTHER_IP)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Basic realm="api"'
    counts = failures(service, username="nopass", ip=OTHER_IP)
    assert counts[KIND_IP] == 1
    assert counts[KIND_USERNAME] == 0


def test_empty_password_counts_for_username(service, api):
    response = get_me(api, basic("alice", ""))
    assert response.status_code == 401
    assert failures(service, username="alice")[KIND_USERNAME] == 1


def test_colon_alone_counts_for_ip_only(service, api):
    response = get_me(api, basic_raw(b":"))
    assert response.status_code == 401
    assert failures(service, ip=ATTACKER) == {KIND_IP: 1}
    total, _ = service.list_blocked(KIND_USERNAME)
    assert total == 0


def test_malformed_headers_lock_out_the_ip(service, api, hasher):
    malformed = ["Basic", "Basic YWxpY2U", "Basic abc def"]
    answers = [get_me(api, header).status_code for header in malformed]
    assert answers == [401, 401, 401]
    assert failures(service, ip=ATTACKER) == {KIND_IP: 3}
    assert get_me(api, basic_raw(b":")).status_code == 429
    assert get_me(api, basic("alice", ALICE_PASSWORD)).status_code == 429
    assert hasher.verify_calls == 0


def test_huge_username_counts_under_one_bounded_key(service, api):
    huge = "a" * 100_000
    answers = [get_me(api, basic(huge, "wrong"), ip=f"192.0.2.{i}").status_code for i in range(4)]
    assert answers == [401, 401, 401, 429]
    states = service.status(username=huge).states
    assert len(states) == 1
    assert states[0].blocked
    assert len(states[0].subject.identity) == 42


def test_control_character_in_user_id_counts_for_username(service, api, hasher):
    response = get_me(api, basic("alice\x00", ALICE_PASSWORD))
    assert response.status_code == 401
    assert failures(service, username="alice\x00")[KIND_USERNAME] == 1
    assert hasher.verify_calls == 0


def test_other_schemes_are_left_to_other_classes(service, api):
    response = get_me(api, "Bearer abc")
    assert response.status_code == 401
    assert failures(service, ip=ATTACKER) == {KIND_IP: 0}
