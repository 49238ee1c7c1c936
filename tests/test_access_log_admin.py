"""The read-only Django admin page of the access log."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from django.contrib import admin
from django.urls import reverse

from drf_defender.admin import AccessAttemptAdmin
from drf_defender.models import AccessAttempt

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:drf_defender_accessattempt_changelist"


@pytest.fixture
def rows():
    moment = datetime(2027, 1, 15, 8, 0, tzinfo=timezone.utc)
    return AccessAttempt.objects.bulk_create(
        [
            AccessAttempt(
                attempt_time=moment,
                username="Alice",
                username_normalized="alice",
                ip_address="203.0.113.10",
                login_valid=False,
                integration="basic",
                scope="login",
            ),
            AccessAttempt(
                attempt_time=moment,
                username="bob",
                username_normalized="bob",
                ip_address="198.51.100.20",
                login_valid=True,
                integration="dj_rest_auth",
                scope="login",
            ),
        ]
    )


def listed_usernames(response):
    return sorted(row.username for row in response.context["cl"].result_list)


def test_model_is_registered():
    assert isinstance(admin.site._registry[AccessAttempt], AccessAttemptAdmin)


def test_changelist_lists_rows(admin_client, rows):
    response = admin_client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert listed_usernames(response) == ["Alice", "bob"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"login_valid__exact": "1"}, ["bob"]),
        ({"login_valid__exact": "0"}, ["Alice"]),
        ({"integration": "basic"}, ["Alice"]),
        ({"q": "ALICE "}, ["Alice"]),
        ({"q": "198.51.100.20"}, ["bob"]),
        ({"q": "ali"}, []),
        ({"attempt_time__year": "2027", "attempt_time__month": "1"}, ["Alice", "bob"]),
    ],
)
def test_changelist_filters(admin_client, rows, query, expected):
    response = admin_client.get(reverse(CHANGELIST), query)
    assert response.status_code == 200
    assert listed_usernames(response) == expected


def test_search_uses_exact_indexed_lookups(admin_client, rows):
    response = admin_client.get(reverse(CHANGELIST), {"q": "alice"})
    sql = str(response.context["cl"].queryset.query)
    assert "LIKE" not in sql.upper()
    assert "username_normalized" in sql


def test_detail_page_is_read_only(admin_client, rows):
    url = reverse("admin:drf_defender_accessattempt_change", args=[rows[0].pk])
    response = admin_client.get(url)
    assert response.status_code == 200
    assert b'name="_save"' not in response.content
    response = admin_client.post(url, {"username": "changed"})
    assert response.status_code == 403
    assert AccessAttempt.objects.get(pk=rows[0].pk).username == "Alice"


def test_add_and_delete_are_forbidden(admin_client, rows):
    add = admin_client.get(reverse("admin:drf_defender_accessattempt_add"))
    assert add.status_code == 403
    delete_url = reverse("admin:drf_defender_accessattempt_delete", args=[rows[0].pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    response = admin_client.get(reverse(CHANGELIST))
    assert "delete_selected" not in response.context["cl"].model_admin.get_actions(
        response.wsgi_request
    )
    assert AccessAttempt.objects.count() == 2
