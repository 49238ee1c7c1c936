"""Views of the admin API over the access-attempt log: listing, one attempt, summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from ..keys import KINDS
from ..models import AccessAttempt
from ..service import admin_username_key, now
from . import serializers as s
from .schema import TAG_ATTEMPTS, TAG_SUMMARY, WWW_AUTHENTICATE, ok, responses
from .views import AdminAPIView, page_links

#: Windows of the summary: name and length in seconds.
SUMMARY_WINDOWS = {"last_hour": 3600, "last_day": 24 * 3600}

ATTEMPT_FIELDS = (
    "id",
    "attempt_time",
    "ip_address",
    "username",
    "username_normalized",
    "user_agent",
    "http_accept",
    "path_info",
    "login_valid",
    "integration",
    "scope",
    "locked_out",
)


def filter_attempts(params: dict[str, Any]) -> QuerySet[AccessAttempt]:
    """Apply the validated filters and ordering of the attempt listing."""
    attempts = AccessAttempt.objects.all()
    username = params.get("username")
    if username is not None:
        # The identity column is indexed and matches every typed form of the username.
        attempts = attempts.filter(username_normalized=admin_username_key(username))
    if params.get("ip"):
        attempts = attempts.filter(ip_address=params["ip"])
    if params.get("success") is not None:
        attempts = attempts.filter(login_valid=params["success"])
    if params.get("locked_out") is not None:
        attempts = attempts.filter(locked_out=params["locked_out"])
    if params.get("integration"):
        attempts = attempts.filter(integration=params["integration"])
    if params.get("scope"):
        attempts = attempts.filter(scope=params["scope"])
    if params.get("since") is not None:
        attempts = attempts.filter(attempt_time__gte=params["since"])
    if params.get("until") is not None:
        attempts = attempts.filter(attempt_time__lt=params["until"])
    ordering = params["ordering"]
    # The id breaks ties, so that pages neither repeat nor skip rows.
    tie_breaker = "-id" if ordering.startswith("-") else "id"
    return attempts.order_by(ordering, tie_breaker).only(*ATTEMPT_FIELDS)


def attempt_payload(attempt: AccessAttempt) -> dict[str, Any]:
    return {name: getattr(attempt, name) for name in ATTEMPT_FIELDS}


class AttemptListView(AdminAPIView):
    @extend_schema(
        operation_id="defender_attempts_list",
        summary="List access attempts",
        description="Rows of the access-attempt log, filtered, ordered and paginated.",
        tags=[TAG_ATTEMPTS],
        parameters=[s.AttemptQuerySerializer, WWW_AUTHENTICATE],
        responses=responses(
            {200: ok(s.AttemptPageSerializer, "One page of attempts.")}, backend=False
        ),
    )
    def get(self, request: Request) -> Response:
        params = self.query(s.AttemptQuerySerializer)
        attempts = filter_attempts(params)
        limit, offset = params["limit"], params["offset"]
        count = attempts.count()
        page = attempts[offset : offset + limit]
        body = {
            "count": count,
            **page_links(request, count, limit, offset),
            "results": [attempt_payload(attempt) for attempt in page],
        }
        return Response(s.AttemptPageSerializer(body).data)


ATTEMPT_ID = OpenApiParameter(
    name="id",
    type=int,
    location=OpenApiParameter.PATH,
    description=str(_("ID of the access attempt.")),
)


class AttemptDetailView(AdminAPIView):
    @extend_schema(
        operation_id="defender_attempts_retrieve",
        summary="Show one access attempt",
        description="One row of the access-attempt log, by its ID.",
        tags=[TAG_ATTEMPTS],
        parameters=[ATTEMPT_ID, WWW_AUTHENTICATE],
        responses=responses(
            {200: ok(s.AttemptSerializer, "The attempt.")},
            bad_request=False,
            not_found=True,
            backend=False,
        ),
    )
    def get(self, request: Request, id: str) -> Response:
        # The URL accepts any text, so that a malformed ID gets this JSON 404 too.
        attempt = None
        if id.isascii() and id.isdigit() and len(id) <= 18:
            attempt = AccessAttempt.objects.filter(pk=int(id)).only(*ATTEMPT_FIELDS).first()
        if attempt is None:
            raise exceptions.NotFound(_("There is no access attempt with this ID."))
        return Response(s.AttemptSerializer(attempt_payload(attempt)).data)


def window_counts(scope: str, current: datetime, seconds: int) -> dict[str, Any]:
    since = current - timedelta(seconds=seconds)
    failed = Q(login_valid=False)
    counts = AccessAttempt.objects.filter(scope=scope, attempt_time__gte=since).aggregate(
        failures=Count("id", filter=failed),
        successes=Count("id", filter=Q(login_valid=True)),
        lockouts=Count("id", filter=Q(locked_out=True)),
        failed_ips=Count("ip_address", filter=failed, distinct=True),
        failed_usernames=Count(
            "username_normalized", filter=failed & ~Q(username_normalized=""), distinct=True
        ),
    )
    return {"seconds": seconds, "since": since, **counts}


class SummaryView(AdminAPIView):
    @extend_schema(
        operation_id="defender_summary_retrieve",
        summary="Summarise recent failures and current blocks",
        description=(
            "Failures, successes and lockouts from the access-attempt log over the last "
            "hour and the last day, and the number of subjects blocked now."
        ),
        tags=[TAG_SUMMARY],
        parameters=[s.SummaryQuerySerializer, WWW_AUTHENTICATE],
        responses=responses({200: ok(s.SummarySerializer, "The summary.")}),
    )
    def get(self, request: Request) -> Response:
        scope = self.query(s.SummaryQuerySerializer)["scope"]
        service = self.service
        blocked = {
            kind: service.list_blocked(kind, scope=scope, offset=0, limit=0)[0] for kind in KINDS
        }
        current = datetime.fromtimestamp(now(), tz=UTC)
        body = {
            "scope": scope,
            "generated_at": current,
            "windows": {
                name: window_counts(scope, current, seconds)
                for name, seconds in SUMMARY_WINDOWS.items()
            },
            "currently_blocked": {**blocked, "total": sum(blocked.values())},
        }
        return Response(s.SummarySerializer(body).data)
