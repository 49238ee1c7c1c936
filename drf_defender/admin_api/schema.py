"""OpenAPI pieces shared by the admin API views: error bodies, error responses, tags."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

#: Tags of the admin API's operations; each names one group of endpoints.
TAG_BLOCKS = "defender-blocks"
TAG_STATUS = "defender-status"
TAG_LISTS = "defender-lists"
TAG_ATTEMPTS = "defender-attempts"
TAG_SUMMARY = "defender-summary"


class ErrorSerializer(serializers.Serializer):
    """Body of every error response except validation errors."""

    detail = serializers.CharField(help_text=_("Human-readable description of the error."))
    code = serializers.CharField(
        help_text=_("Stable machine-readable error code, such as 'not_found'.")
    )

    class Meta:
        ref_name = "DefenderError"


class ValidationErrorSerializer(ErrorSerializer):
    """Body of a 400 response: a summary and the messages of each invalid field."""

    # The serializer metaclass moves declared fields off the class, so this field does
    # not hide Serializer.errors.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        help_text=_(
            "Messages by field name; 'non_field_errors' holds messages about the request "
            "as a whole. Empty when the body could not be parsed at all."
        ),
    )

    class Meta:
        ref_name = "DefenderValidationError"


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorSerializer, description=description)


BAD_REQUEST = OpenApiResponse(
    response=ValidationErrorSerializer,
    description=str(_("The request is invalid; 'errors' lists the messages of each field.")),
)
UNAUTHORIZED = _error(
    str(_("No valid credentials were sent; the WWW-Authenticate header names a scheme."))
)
FORBIDDEN = _error(str(_("The user is authenticated but lacks the admin API permission.")))
NOT_FOUND = _error(str(_("The requested object does not exist.")))
UNAVAILABLE = _error(str(_("The lockout backend cannot be reached; nothing was changed.")))

WWW_AUTHENTICATE = OpenApiParameter(
    name="WWW-Authenticate",
    type=str,
    location=OpenApiParameter.HEADER,
    description=str(_("Authentication scheme that the client can use.")),
    response=[401],
)


def ok(serializer: Any, description: str) -> OpenApiResponse:
    """Describe a success response."""
    return OpenApiResponse(response=serializer, description=description)


def responses(
    success: dict[int, Any],
    *,
    bad_request: bool = True,
    not_found: bool = False,
    backend: bool = True,
) -> dict[int, Any]:
    """Build the ``responses`` of one operation: its success responses and its errors."""
    result: dict[int, Any] = dict(success)
    if bad_request:
        result[400] = BAD_REQUEST
    result[401] = UNAUTHORIZED
    result[403] = FORBIDDEN
    if not_found:
        result[404] = NOT_FOUND
    if backend:
        result[503] = UNAVAILABLE
    return result


class EnumFieldExtension(OpenApiSerializerFieldExtension):
    """Describe each ``EnumField`` as a reference to its own named enum component."""

    target_class = "drf_defender.admin_api.serializers.EnumField"

    def get_name(self) -> str | None:
        return str(self.target.enum_name)

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        return {"type": "string", "enum": [str(choice) for choice in self.target.choices]}
