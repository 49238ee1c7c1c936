"""Views of the admin API.

Every view reads the lockout service at request time through ``get_service()``, so an
unblock is effective for every integration at once. Changes pass the acting user's
name to the service, which logs them and sends the matching signal.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView, exception_handler

from .. import identity
from ..backends.base import SubjectState
from ..conf import defender_settings
from ..exceptions import BackendUnavailable
from ..keys import (
    KIND_IP,
    KIND_USERNAME,
    KINDS,
    LIST_NAMES,
    PAIR_SEPARATOR,
    Subject,
    get_policy,
    subject_key,
)
from ..parsers import NestingSafeJSONParser
from ..service import LockoutService, get_service, now
from . import serializers as s
from .permissions import authentication_classes, permission_classes
from .schema import (
    TAG_BLOCKS,
    TAG_LISTS,
    TAG_STATUS,
    WWW_AUTHENTICATE,
    ok,
    responses,
)

logger = logging.getLogger(__name__)

#: Blocks unblocked per backend call by "unblock all".
UNBLOCK_ALL_BATCH = 500

#: The settings that hold the configured entries of each run-time list.
CONFIGURED_LISTS = {
    "username_allow": "USERNAME_ALLOWLIST",
    "username_deny": "USERNAME_DENYLIST",
    "ip_allow": "IP_ALLOWLIST",
    "ip_deny": "IP_DENYLIST",
}


# --- errors ---------------------------------------------------------------------------------


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = _("The lockout backend cannot be reached. Try again in a moment.")
    default_code = "lockout_backend_unavailable"


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested validation detail into field name -> messages."""
    if isinstance(detail, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for field, messages in _flatten(value, name).items():
                flat.setdefault(field, []).extend(messages)
        return flat
    if isinstance(detail, list) and any(isinstance(item, (list, Mapping)) for item in detail):
        flat = {}
        for index, item in enumerate(detail):
            name = f"{prefix}.{index}" if prefix else str(index)
            for field, messages in _flatten(item, name).items():
                flat.setdefault(field, []).extend(messages)
        return flat
    items = detail if isinstance(detail, list) else [detail]
    return {prefix or "non_field_errors": [str(item) for item in items]}


def admin_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Return error responses as ``{"detail", "code"}``, and 400s with ``errors`` by field."""
    if isinstance(exc, BackendUnavailable):
        logger.error("drf-defender admin API: the lockout backend is unavailable: %s", exc)
        exc = ServiceUnavailable()
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    if isinstance(response.data, Mapping) and "code" in response.data:
        # Already in this shape, such as the lockout response of the login path.
        return response
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "detail": str(_("Invalid input.")),
            "code": "invalid",
            "errors": _flatten(exc.detail),
        }
        return response
    codes = exc.get_codes()
    response.data = {
        "detail": str(exc.detail) if not isinstance(exc.detail, (list, dict)) else str(exc),
        "code": codes if isinstance(codes, str) else exc.default_code,
    }
    if response.status_code == status.HTTP_400_BAD_REQUEST:
        response.data["errors"] = {}
    return response


# --- payloads -------------------------------------------------------------------------------


def _datetime(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, tz=UTC) if seconds else None


def subject_parts(subject: Subject) -> tuple[str | None, str | None]:
    """Return the username and the IP of a subject, in forms the API accepts back."""
    if subject.kind == KIND_USERNAME:
        return subject.identity, None
    if subject.kind == KIND_IP:
        return None, subject.label
    ip, space, username = subject.label.partition(" ")
    if space:
        return username, ip
    ip, _separator, username = subject.identity.partition(PAIR_SEPARATOR)
    return username, ip


def state_payload(state: SubjectState, current: float) -> dict[str, Any]:
    subject = state.subject
    username, ip = subject_parts(subject)
    blocked = state.blocked
    return {
        "kind": subject.kind,
        "reason": subject.reason,
        "scope": subject.scope,
        "identity": subject.identity,
        "label": subject.label,
        "username": username,
        "ip": ip,
        "failures": state.failures,
        "limit": get_policy(subject.scope).limit(subject.kind),
        "blocked": blocked,
        "manual": blocked and state.manual,
        "permanent": blocked and not state.blocked_until,
        "lockout_count": state.lockout_count,
        "blocked_since": _datetime(state.blocked_since) if blocked else None,
        "blocked_until": _datetime(state.blocked_until) if blocked else None,
        "seconds_left": state.seconds_left(current),
    }


def unblock_value(subject: Subject) -> str:
    """Return the value that ``LockoutService.unblock`` takes for a listed subject."""
    username, ip = subject_parts(subject)
    if subject.kind == KIND_USERNAME:
        return str(username)
    if subject.kind == KIND_IP:
        return str(ip)
    return f"{ip}{PAIR_SEPARATOR}{username}"


def actor_name(request: Request) -> str | None:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    return str(user.get_username())


def _call(action: Callable[[], Any]) -> Any:
    """Run a service call; its ValueError (a value it rejects) becomes a 400."""
    try:
        return action()
    except ValueError as error:
        raise exceptions.ValidationError({"non_field_errors": [str(error)]}) from error


def page_links(request: Request, count: int, limit: int, offset: int) -> dict[str, str | None]:
    url = request.build_absolute_uri()
    url = replace_query_param(url, "limit", limit)
    following = None
    if offset + limit < count:
        following = replace_query_param(url, "offset", offset + limit)
    previous = None
    if offset > 0:
        back = max(0, offset - limit)
        if back == 0:
            previous = remove_query_param(url, "offset")
        else:
            previous = replace_query_param(url, "offset", back)
    return {"next": following, "previous": previous}


# --- the base view --------------------------------------------------------------------------


class AdminAPIView(APIView):
    """Base of the admin API views: JSON only, permissions and authentication from settings."""

    parser_classes = [NestingSafeJSONParser]
    renderer_classes = [JSONRenderer]

    def get_permissions(self) -> list[Any]:
        return [permission() for permission in permission_classes()]

    def get_authenticators(self) -> list[Any]:
        return [authenticator() for authenticator in authentication_classes()]

    def get_authenticate_header(self, request: Request) -> str | None:  # type: ignore[override]
        # DRF takes the header from the first class only. Trying each class gives anonymous
        # clients a 401 with a usable challenge when session authentication comes first.
        for authenticator in getattr(request, "authenticators", None) or []:
            header = authenticator.authenticate_header(request)
            if header:
                return str(header)
        return None

    def get_exception_handler(self) -> Callable[..., Response | None]:
        return admin_exception_handler

    @property
    def service(self) -> LockoutService:
        return get_service()

    def query(self, serializer_class: type[Any]) -> dict[str, Any]:
        serializer = serializer_class(data=self.request.query_params)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def body(self, serializer_class: type[Any], **context: Any) -> dict[str, Any]:
        serializer = serializer_class(data=self.request.data, context=context)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


# --- blocks -----------------------------------------------------------------------------------


class BlockListView(AdminAPIView):
    @extend_schema(
        operation_id="defender_blocks_list",
        summary="List blocked subjects",
        description=(
            "Blocked usernames, IP addresses and IP-and-username pairs of one scope, "
            "ordered by kind, then by the end of the block (permanent blocks last)."
        ),
        tags=[TAG_BLOCKS],
        parameters=[s.BlockListQuerySerializer, WWW_AUTHENTICATE],
        responses=responses({200: ok(s.BlockPageSerializer, "One page of blocked subjects.")}),
    )
    def get(self, request: Request) -> Response:
        params = self.query(s.BlockListQuerySerializer)
        kinds = [params["kind"]] if params.get("kind") else list(KINDS)
        limit, offset = params["limit"], params["offset"]
        scope = params["scope"]

        results: list[SubjectState] = []
        count = 0
        for kind in kinds:
            # Page across kinds: skip whole kinds before the offset, then fill the page.
            start = max(0, offset - count)
            wanted = max(0, limit - len(results))
            total, states = self.service.list_blocked(kind, scope=scope, offset=start, limit=wanted)
            results.extend(states)
            count += total
        current = now()
        body = {
            "count": count,
            **page_links(request, count, limit, offset),
            "results": [state_payload(state, current) for state in results],
        }
        return Response(s.BlockPageSerializer(body).data)

    @extend_schema(
        operation_id="defender_blocks_create",
        summary="Block a subject by hand",
        description=(
            "Blocks a username, an IP address or a pair for 'duration' seconds, or until "
            "unblocked when 'duration' is 0. Sends the block and lockout signals."
        ),
        tags=[TAG_BLOCKS],
        request=s.BlockRequestSerializer,
        parameters=[WWW_AUTHENTICATE],
        responses=responses({201: ok(s.SubjectStateSerializer, "The subject is blocked.")}),
    )
    def post(self, request: Request) -> Response:
        data = self.body(s.BlockRequestSerializer)
        kind = data["kind"]
        state = _call(
            lambda: self.service.block(
                kind,
                s.subject_value(kind, data),
                duration=data.get("duration"),
                scope=data["scope"],
                actor=actor_name(request),
            )
        )
        payload = state_payload(state, now())
        return Response(s.SubjectStateSerializer(payload).data, status=status.HTTP_201_CREATED)


class UnblockView(AdminAPIView):
    @extend_schema(
        operation_id="defender_blocks_unblock",
        summary="Unblock a subject or an identity",
        description=(
            "With 'kind', lifts the block of that one subject and deletes its failure "
            "count and lockout history. Without 'kind', does so for every subject of the "
            "identity given by 'username' and 'ip'. The response lists what was cleared "
            "and which subjects of the identity stay blocked. The effect is immediate for "
            "every process and integration."
        ),
        tags=[TAG_BLOCKS],
        request=s.UnblockRequestSerializer,
        parameters=[WWW_AUTHENTICATE],
        responses=responses(
            {200: ok(s.UnblockResultSerializer, "What was cleared and what stays blocked.")}
        ),
    )
    def post(self, request: Request) -> Response:
        data = self.body(s.UnblockRequestSerializer)
        scope = data["scope"]
        username, ip = data.get("username"), data.get("ip")
        service = self.service
        actor = actor_name(request)

        before = _call(lambda: service.status(username=username, ip=ip, scope=scope))
        states = {state.subject.kind: state for state in before.states}
        kinds = [data["kind"]] if data.get("kind") else list(states)
        cleared = []
        for kind in kinds:
            value = s.subject_value(kind, data)
            was_blocked = _call(
                functools.partial(service.unblock, kind, value, scope=scope, actor=actor)
            )
            cleared.append(self._cleared(service, states[kind], was_blocked))

        after = service.status(username=username, ip=ip, scope=scope)
        current = now()
        still_blocked = [state_payload(state, current) for state in after.states if state.blocked]
        body = {
            "scope": scope,
            "cleared": cleared,
            "still_blocked": still_blocked,
            "blocked": bool(still_blocked),
        }
        return Response(s.UnblockResultSerializer(body).data)

    @staticmethod
    def _cleared(service: LockoutService, state: SubjectState, was_blocked: bool) -> dict[str, Any]:
        subject = state.subject
        prefix = service.backend.prefix
        roles = []
        if was_blocked:
            roles.append("blocked")
        if state.failures:
            roles.append("failed")
        if state.lockout_count:
            roles.append("lockouts")
        return {
            "kind": subject.kind,
            "reason": subject.reason,
            "identity": subject.identity,
            "label": subject.label,
            "was_blocked": was_blocked,
            "failures": state.failures,
            "lockout_count": state.lockout_count,
            "keys": [subject_key(prefix, role, subject) for role in roles],
        }


class UnblockAllView(AdminAPIView):
    @extend_schema(
        operation_id="defender_blocks_unblock_all",
        summary="Unblock every subject of one kind",
        description=(
            "Lifts every block of one kind in one scope and deletes those subjects' "
            "failure counts and lockout history."
        ),
        tags=[TAG_BLOCKS],
        request=s.UnblockAllRequestSerializer,
        parameters=[WWW_AUTHENTICATE],
        responses=responses({200: ok(s.UnblockAllResultSerializer, "The subjects unblocked.")}),
    )
    def post(self, request: Request) -> Response:
        data = self.body(s.UnblockAllRequestSerializer)
        kind, scope = data["kind"], data["scope"]
        service = self.service
        actor = actor_name(request)

        total, _states = service.list_blocked(kind, scope=scope, offset=0, limit=0)
        labels: list[str] = []
        tried: set[str] = set()
        # Unblocked subjects leave the index, so each batch starts at offset 0. The bound
        # covers blocks added while this runs and stops if an entry cannot be removed.
        for _batch in range(total // UNBLOCK_ALL_BATCH + 2):
            _total, states = service.list_blocked(
                kind, scope=scope, offset=0, limit=UNBLOCK_ALL_BATCH
            )
            fresh = [state for state in states if state.subject.identity not in tried]
            if not fresh:
                break
            for state in fresh:
                tried.add(state.subject.identity)
                labels.extend(self._unblock(service, state, scope, actor))
        logger.info(
            "drf-defender admin API: %s unblocked %d subjects of kind %s in scope %s",
            actor or "an administrator",
            len(labels),
            kind,
            scope,
        )
        body = {"kind": kind, "scope": scope, "count": len(labels), "labels": labels}
        return Response(s.UnblockAllResultSerializer(body).data)

    @staticmethod
    def _unblock(
        service: LockoutService, state: SubjectState, scope: str, actor: str | None
    ) -> list[str]:
        subject = state.subject
        try:
            service.unblock(subject.kind, unblock_value(subject), scope=scope, actor=actor)
        except ValueError as error:
            logger.warning(
                "drf-defender admin API could not unblock the listed %s subject %s: %s",
                subject.kind,
                subject.identity,
                error,
            )
            return []
        return [subject.label]


# --- identity status --------------------------------------------------------------------------


def _listed(
    names: Iterable[str], networks: Iterable[str], username_key: str | None, ip: str | None
) -> bool:
    if username_key is not None:
        keys = {identity.username_identity(name) for name in names}
        if username_key in keys:
            return True
    parsed = []
    for value in networks:
        try:
            parsed.extend(identity.parse_networks([value]))
        except ValueError:
            continue
    return identity.ip_in_networks(ip, parsed)


class IdentityStatusView(AdminAPIView):
    @extend_schema(
        operation_id="defender_status_retrieve",
        summary="Look up the lockout status of an identity",
        description=(
            "Failure counts, blocks and lockout counts of a username, an IP address, or "
            "both, under every subject they are counted as, and whether an allow or deny "
            "list applies."
        ),
        tags=[TAG_STATUS],
        parameters=[s.StatusQuerySerializer, WWW_AUTHENTICATE],
        responses=responses({200: ok(s.IdentityStatusSerializer, "The identity's subjects.")}),
    )
    def get(self, request: Request) -> Response:
        params = self.query(s.StatusQuerySerializer)
        username, ip, scope = params.get("username"), params.get("ip"), params["scope"]
        service = self.service
        result = _call(lambda: service.status(username=username, ip=ip, scope=scope))
        lists = service.get_lists()

        username_key = next(
            (st.subject.identity for st in result.states if st.subject.kind == KIND_USERNAME),
            None,
        )
        allowlisted = _listed(
            [*defender_settings.USERNAME_ALLOWLIST, *lists["username_allow"]],
            [*defender_settings.IP_ALLOWLIST, *lists["ip_allow"]],
            username_key,
            ip,
        )
        denylisted = _listed(
            [*defender_settings.USERNAME_DENYLIST, *lists["username_deny"]],
            [*defender_settings.IP_DENYLIST, *lists["ip_deny"]],
            username_key,
            ip,
        )
        current = result.checked_at
        body = {
            "scope": scope,
            "username": username,
            "ip": ip,
            "blocked": result.blocked,
            "seconds_left": result.seconds_left(),
            "allowlisted": allowlisted,
            "denylisted": denylisted,
            "subjects": [state_payload(state, current) for state in result.states],
        }
        return Response(s.IdentityStatusSerializer(body).data)


# --- allow and deny lists ---------------------------------------------------------------------

LIST_NAME_PARAMETER = OpenApiParameter(
    name="name",
    type=str,
    location=OpenApiParameter.PATH,
    enum=list(LIST_NAMES),
    description=str(_("Name of the run-time list.")),
)


def list_payload(name: str, entries: Iterable[str]) -> dict[str, Any]:
    kind, _separator, effect = name.partition("_")
    configured = getattr(defender_settings, CONFIGURED_LISTS[name])
    return {
        "name": name,
        "kind": kind,
        "effect": effect,
        "entries": sorted(entries),
        "configured": [str(value) for value in configured],
    }


def equivalent_entries(name: str, value: str, entries: Iterable[str]) -> list[str]:
    """Return the stored entries that mean the same as the canonical ``value``."""
    if name.startswith("ip_"):
        (wanted,) = identity.parse_networks([value])
        matches = []
        for entry in entries:
            try:
                if s.canonical_network(entry) == str(value) or identity.parse_networks([entry]) == [
                    wanted
                ]:
                    matches.append(entry)
            except (ValueError, exceptions.ValidationError):
                continue
        return matches
    key = identity.username_identity(value)
    return [entry for entry in entries if identity.username_identity(entry) == key]


class ListMixin:
    def list_name(self, name: str) -> str:
        if name not in LIST_NAMES:
            raise exceptions.NotFound(
                _("There is no list %(name)s; use one of %(names)s.")
                % {"name": repr(name), "names": ", ".join(LIST_NAMES)}
            )
        return name


class ListsView(AdminAPIView):
    @extend_schema(
        operation_id="defender_lists_list",
        summary="List the allow and deny lists",
        description=(
            "The four run-time lists with their entries, and the entries of the "
            "matching DEFENDER_* settings, which the API cannot change."
        ),
        tags=[TAG_LISTS],
        parameters=[WWW_AUTHENTICATE],
        responses=responses(
            {200: ok(s.ListSerializer(many=True), "The four lists.")}, bad_request=False
        ),
    )
    def get(self, request: Request) -> Response:
        lists = self.service.get_lists()
        body = [list_payload(name, lists.get(name, ())) for name in LIST_NAMES]
        return Response(s.ListSerializer(body, many=True).data)


class ListDetailView(ListMixin, AdminAPIView):
    @extend_schema(
        operation_id="defender_lists_retrieve",
        summary="Show one allow or deny list",
        description="One run-time list with its entries and its configured entries.",
        tags=[TAG_LISTS],
        parameters=[LIST_NAME_PARAMETER, WWW_AUTHENTICATE],
        responses=responses(
            {200: ok(s.ListSerializer, "The list.")}, bad_request=False, not_found=True
        ),
    )
    def get(self, request: Request, name: str) -> Response:
        name = self.list_name(name)
        lists = self.service.get_lists()
        return Response(s.ListSerializer(list_payload(name, lists.get(name, ()))).data)


class ListEntriesView(ListMixin, AdminAPIView):
    @extend_schema(
        operation_id="defender_lists_entries_add",
        summary="Add an entry to a list",
        description=(
            "Adds a username, or an IP address or CIDR network, in its canonical form. "
            "Answers 201 when added and 200 when an equivalent entry was there already. "
            "Effective at once in this process and within DEFENDER_LISTS_CACHE_SECONDS in "
            "the others."
        ),
        tags=[TAG_LISTS],
        request=s.ListEntryRequestSerializer,
        parameters=[LIST_NAME_PARAMETER, WWW_AUTHENTICATE],
        responses=responses(
            {
                200: ok(s.ListChangeSerializer, "An equivalent entry was already listed."),
                201: ok(s.ListChangeSerializer, "The entry was added."),
            },
            not_found=True,
        ),
    )
    def post(self, request: Request, name: str) -> Response:
        name = self.list_name(name)
        value = self.body(s.ListEntryRequestSerializer, list_name=name)["value"]
        service = self.service
        present = equivalent_entries(name, value, service.get_lists().get(name, ()))
        if present:
            body = {"name": name, "value": present[0], "changed": False}
            return Response(s.ListChangeSerializer(body).data)
        added = service.add_list_entry(name, value, actor=actor_name(request))
        body = {"name": name, "value": value, "changed": added}
        code = status.HTTP_201_CREATED if added else status.HTTP_200_OK
        return Response(s.ListChangeSerializer(body).data, status=code)

    @extend_schema(
        operation_id="defender_lists_entries_remove",
        summary="Remove an entry from a list",
        description=(
            "Removes every stored entry that means the same as 'value' (for example "
            "'Alice' and 'alice', or '10.1.2.3/8' and '10.0.0.0/8'). Answers 404 when "
            "there is none."
        ),
        tags=[TAG_LISTS],
        parameters=[LIST_NAME_PARAMETER, s.ListEntryQuerySerializer, WWW_AUTHENTICATE],
        responses=responses(
            {200: ok(s.ListChangeSerializer, "The entry was removed.")}, not_found=True
        ),
    )
    def delete(self, request: Request, name: str) -> Response:
        name = self.list_name(name)
        serializer = s.ListEntryQuerySerializer(
            data=request.query_params, context={"list_name": name}
        )
        serializer.is_valid(raise_exception=True)
        value = serializer.validated_data["value"]
        service = self.service
        present = equivalent_entries(name, value, service.get_lists().get(name, ()))
        actor = actor_name(request)
        removed = [
            entry for entry in present if service.remove_list_entry(name, entry, actor=actor)
        ]
        if not removed:
            raise exceptions.NotFound(
                _("%(value)s is not in the list %(name)s.") % {"value": repr(value), "name": name}
            )
        body = {"name": name, "value": value, "changed": True}
        return Response(s.ListChangeSerializer(body).data)
