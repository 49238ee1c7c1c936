"""Views of the demo project that drf-defender does not provide."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from drf_defender.integrations.rest_framework import (
    DefenderBasicAuthentication,
    DefenderTokenAuthentication,
)


class MeView(APIView):
    """Return the user of a request authenticated with Basic or Token authentication."""

    authentication_classes = [DefenderBasicAuthentication, DefenderTokenAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses=inline_serializer(
            "DemoMe",
            {
                "username": serializers.CharField(),
                "email": serializers.EmailField(),
                "is_staff": serializers.BooleanField(),
                "authenticated_by": serializers.CharField(),
            },
        )
    )
    def get(self, request: Request) -> Response:
        user = request.user
        return Response(
            {
                "username": user.get_username(),
                "email": getattr(user, "email", ""),
                "is_staff": user.is_staff,
                "authenticated_by": type(request.successful_authenticator).__name__,
            }
        )


@extend_schema(
    responses=inline_serializer(
        "DemoPasswordResetLink",
        {
            "uid": serializers.CharField(),
            "token": serializers.CharField(),
            "confirm_with": serializers.CharField(),
            "confirm_url": serializers.URLField(),
            "fields": serializers.ListField(child=serializers.CharField()),
        },
    )
)
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def password_reset_link(request: Request, uidb64: str, token: str) -> Response:
    """Show the uid and token of a reset email's link, and where to post them.

    Django's reset email links to the URL named ``password_reset_confirm``. A real
    project points that name at its front end, which posts the new password to the API.
    """
    return Response(
        {
            "uid": uidb64,
            "token": token,
            "confirm_with": "POST",
            "confirm_url": request.build_absolute_uri(reverse("password-reset-confirm")),
            "fields": ["uid", "token", "new_password1", "new_password2"],
        }
    )
