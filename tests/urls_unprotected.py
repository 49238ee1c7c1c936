"""A URL conf that serves DRF's and SimpleJWT's own login views, unprotected."""

from django.urls import path
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework_simplejwt.views import TokenObtainPairView

from drf_defender.integrations.rest_framework import DefenderObtainAuthToken

urlpatterns = [
    path("plain-token/", ObtainAuthToken.as_view()),
    path("plain-jwt/", TokenObtainPairView.as_view()),
    path("protected-token/", DefenderObtainAuthToken.as_view()),
]
