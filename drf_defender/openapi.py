"""drf-spectacular support: security schemes of the authentication classes, lockout responses.

Importing this module (``DefenderConfig.ready()`` does it when drf-spectacular is
installed) registers two authentication extensions, so that
``DefenderBasicAuthentication`` and ``DefenderTokenAuthentication`` appear as the
``defenderBasicAuth`` and ``defenderTokenAuth`` security schemes of a project's schema.

The lockout response needs the project's schema class: set
``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] = "drf_defender.openapi.DefenderAutoSchema"``,
or mix :class:`LockoutSchemaMixin` into a custom ``AutoSchema``. Every operation whose
view authenticates with one of drf-defender's classes, or logs users in through one of
its serializers or views, then documents the lockout response: status
DEFENDER_LOCKOUT_STATUS_CODE (429 by default), the body ``{detail, code,
retry_after}`` and the ``Retry-After`` header. With DEFENDER_BACKEND_FAILURE_POLICY
"closed" it also documents the 503 returned while the backend is down.

Classes are named by dotted path and compared by name along each class's MRO, so this
module imports no integration and works whether or not the optional packages are
installed.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_bearer_security_scheme_object, get_class
from rest_framework import serializers

from .conf import defender_settings

#: Authentication classes that can return the lockout response.
LOCKOUT_AUTHENTICATION_CLASSES = frozenset(
    {
        "drf_defender.integrations.rest_framework.DefenderBasicAuthentication",
        "drf_defender.integrations.rest_framework.DefenderTokenAuthentication",
    }
)

#: Login serializers that can return the lockout response.
LOCKOUT_SERIALIZERS = frozenset(
    {
        "drf_defender.integrations.rest_framework.DefenderAuthTokenSerializer",
        "drf_defender.integrations.dj_rest_auth.DefenderLoginSerializer",
        "drf_defender.integrations.simplejwt.DefenderTokenObtainPairSerializer",
    }
)

#: Views (and view mixins) that can return the lockout response.
LOCKOUT_VIEWS = frozenset(
    {
        "drf_defender.integrations.rest_framework_views.DefenderObtainAuthToken",
        "drf_defender.integrations.simplejwt.DefenderTokenObtainPairView",
        "drf_defender.integrations.password_reset.DefenderPasswordResetMixin",
        "drf_defender.integrations.password_reset.DefenderPasswordResetConfirmMixin",
    }
)

RETRY_AFTER_HEADER = {
    "schema": {"type": "integer", "minimum": 1},
    "description": str(
        _(
            "Seconds until the block ends. Absent when the block lasts until an "
            "administrator lifts it."
        )
    ),
}


# --- security schemes -----------------------------------------------------------------


class NamedTargetMixin:
    """Match an extension's target by dotted name along the MRO, without importing it.

    drf-spectacular imports a string ``target_class`` when it first compares it. The
    module of drf-defender's authentication classes cannot be imported in a project
    without ``rest_framework.authtoken``, and that import error would be a schema
    warning in a project that does not use those classes at all.
    """

    target_class: Any

    @classmethod
    def _matches(cls, target: Any) -> bool:
        name = cls.target_class
        if not isinstance(name, str):
            name = f"{name.__module__}.{name.__qualname__}"
        return name in _class_names(get_class(target))


class DefenderBasicAuthenticationScheme(NamedTargetMixin, OpenApiAuthenticationExtension):
    """HTTP Basic, as ``DefenderBasicAuthentication`` and its subclasses accept it."""

    target_class = "drf_defender.integrations.rest_framework.DefenderBasicAuthentication"
    # drf-spectacular refuses one component name for two classes, so DRF's own
    # "basicAuth" cannot be shared when a project uses both classes.
    name = "defenderBasicAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "http", "scheme": "basic"}


class DefenderTokenAuthenticationScheme(NamedTargetMixin, OpenApiAuthenticationExtension):
    """DRF's token header, as ``DefenderTokenAuthentication`` and its subclasses accept it."""

    target_class = "drf_defender.integrations.rest_framework.DefenderTokenAuthentication"
    name = "defenderTokenAuth"

    def __init__(self, target: Any) -> None:
        super().__init__(target)
        keyword = str(getattr(target, "keyword", "Token"))
        # A subclass with another keyword sends another header, so it gets its own scheme.
        if keyword != "Token":
            self.name = f"defender{keyword.capitalize()}TokenAuth"
        self.keyword = keyword

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        definition: dict[str, Any] = build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix=self.keyword
        )
        return definition


# --- lockout responses ----------------------------------------------------------------


class LockoutResponseSerializer(serializers.Serializer):
    """Body of the lockout response."""

    detail = serializers.CharField(
        help_text=_("Translated message stating the limit and how long the lockout lasts.")
    )
    code = serializers.CharField(help_text=_("Always 'locked_out'."))
    retry_after = serializers.IntegerField(
        allow_null=True,
        help_text=_(
            "Seconds until the block ends; null when it lasts until an administrator lifts it."
        ),
    )

    class Meta:
        ref_name = "DefenderLockout"


class BackendUnavailableResponseSerializer(serializers.Serializer):
    """Body of the response while the lockout backend is down and the policy is "closed"."""

    detail = serializers.CharField()
    code = serializers.CharField(help_text=_("Always 'lockout_backend_unavailable'."))

    class Meta:
        ref_name = "DefenderBackendUnavailable"


def _class_names(cls: type) -> set[str]:
    return {f"{klass.__module__}.{klass.__qualname__}" for klass in inspect.getmro(cls)}


def _any_named(classes: Iterable[type], names: frozenset[str]) -> bool:
    return any(_class_names(cls) & names for cls in classes)


def _serializer_class(view: Any) -> type | None:
    getter = getattr(view, "get_serializer_class", None)
    if getter is not None:
        try:
            found = getter()
        # A view may need a real request, or assert a missing attribute: use the attribute.
        except Exception:
            found = None
        if isinstance(found, type):
            return found
    found = getattr(view, "serializer_class", None)
    return found if isinstance(found, type) else None


def view_answers_lockout(view: Any) -> bool:
    """Return whether a view can respond with drf-defender's lockout response."""
    if _any_named([type(view)], LOCKOUT_VIEWS):
        return True
    authenticators = view.get_authenticators()
    authentication_classes = [type(authenticator) for authenticator in authenticators]
    if _any_named(authentication_classes, LOCKOUT_AUTHENTICATION_CLASSES):
        return True
    serializer = _serializer_class(view)
    return serializer is not None and _any_named([serializer], LOCKOUT_SERIALIZERS)


def _merge_response(responses: dict[str, Any], code: str, response: dict[str, Any]) -> None:
    """Add ``response`` under ``code``, or combine it with the response already there."""
    existing = responses.get(code)
    if existing is None:
        responses[code] = response
        return
    existing.setdefault("headers", {}).update(response.get("headers", {}))
    description = existing.get("description") or ""
    existing["description"] = f"{description} {response['description']}".strip()
    new_schema = response["content"]["application/json"]["schema"]
    content = existing.setdefault("content", {})
    media = content.setdefault("application/json", {})
    old_schema = media.get("schema")
    media["schema"] = new_schema if old_schema is None else {"oneOf": [old_schema, new_schema]}


class LockoutSchemaMixin:
    """AutoSchema mixin that documents drf-defender's lockout response where it applies."""

    view: Any

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation: dict[str, Any] | None = super().get_operation(  # type: ignore[misc]
            *args, **kwargs
        )
        if operation is not None and view_answers_lockout(self.view):
            self.add_lockout_responses(operation)
        return operation

    def add_lockout_responses(self, operation: dict[str, Any]) -> None:
        """Add the lockout response, and the outage response of the "closed" policy."""
        resolve = self.resolve_serializer  # type: ignore[attr-defined]
        responses = operation.setdefault("responses", {})
        lockout = {
            "description": str(
                _(
                    "Locked out after too many failed attempts; no credentials were "
                    "checked. Retry after the number of seconds in Retry-After."
                )
            ),
            "headers": {"Retry-After": RETRY_AFTER_HEADER},
            "content": {
                "application/json": {"schema": resolve(LockoutResponseSerializer, "response").ref}
            },
        }
        _merge_response(responses, str(defender_settings.LOCKOUT_STATUS_CODE), lockout)
        if defender_settings.BACKEND_FAILURE_POLICY == "closed":
            unavailable = {
                "description": str(
                    _(
                        "The lockout backend is down and DEFENDER_BACKEND_FAILURE_POLICY "
                        "is 'closed'."
                    )
                ),
                "content": {
                    "application/json": {
                        "schema": resolve(BackendUnavailableResponseSerializer, "response").ref
                    }
                },
            }
            _merge_response(
                responses, str(defender_settings.BACKEND_UNAVAILABLE_STATUS_CODE), unavailable
            )


class DefenderAutoSchema(LockoutSchemaMixin, AutoSchema):
    """drf-spectacular's AutoSchema that also documents drf-defender's lockout response."""
