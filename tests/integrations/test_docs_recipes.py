"""The recipes of docs/integrations.md are the settings and routes the tests use."""

from __future__ import annotations

import pytest
from dj_rest_auth.views import LoginView
from django.conf import settings
from django.urls import resolve
from django.utils.module_loading import import_string
from rest_framework.settings import api_settings
from rest_framework_simplejwt.views import TokenObtainPairView

from drf_defender.integrations.dj_rest_auth import DefenderLoginSerializer
from drf_defender.integrations.rest_framework import (
    DefenderBasicAuthentication,
    DefenderTokenAuthentication,
)
from drf_defender.integrations.simplejwt import DefenderTokenObtainPairSerializer
from tests.integrations.recipes import recipe_namespace, recipe_settings, recipe_sources

RECIPES = [
    "drf-authentication",
    "obtain-token-settings",
    "obtain-token-urls",
    "simplejwt-settings",
    "simplejwt-urls",
    "dj-rest-auth",
    "custom-serializer",
]


def test_every_recipe_is_on_the_page():
    assert set(RECIPES) <= set(recipe_sources())


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_apps_are_installed_in_tests(name):
    apps = recipe_namespace(name)["INSTALLED_APPS"]
    assert set(apps) <= set(settings.INSTALLED_APPS)


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_dotted_paths_import(name):
    for value in recipe_settings(name).values():
        if not isinstance(value, dict):
            continue
        for entry in value.values():
            paths = entry if isinstance(entry, list) else [entry]
            for path in paths:
                if isinstance(path, str) and path.startswith("drf_defender."):
                    assert import_string(path)


def test_drf_authentication_recipe_is_applied(drf_auth_settings):
    documented = recipe_settings("drf-authentication")["REST_FRAMEWORK"]
    assert (
        drf_auth_settings["DEFAULT_AUTHENTICATION_CLASSES"]
        == (documented["DEFAULT_AUTHENTICATION_CLASSES"])
    )
    assert api_settings.DEFAULT_AUTHENTICATION_CLASSES == [
        DefenderBasicAuthentication,
        DefenderTokenAuthentication,
    ]


def test_dj_rest_auth_recipe_is_in_test_settings():
    documented = recipe_settings("dj-rest-auth")["REST_AUTH"]
    assert documented.items() <= settings.REST_AUTH.items()
    # dj-rest-auth read the setting when its views were imported.
    assert LoginView.serializer_class is DefenderLoginSerializer
    assert resolve("/api/auth/login/").func.view_class is LoginView


def test_simplejwt_recipes_are_in_tests():
    documented = recipe_settings("simplejwt-settings")["SIMPLE_JWT"]
    assert documented.items() <= settings.SIMPLE_JWT.items()
    assert TokenObtainPairView().get_serializer_class() is DefenderTokenObtainPairSerializer
    assert resolve("/api/auth/jwt/settings/").func.view_class is TokenObtainPairView


@pytest.mark.parametrize("name", ["obtain-token-urls", "simplejwt-urls"])
def test_url_recipes_match_test_routes(name):
    for pattern in recipe_namespace(name)["urlpatterns"]:
        route = "/" + str(pattern.pattern)
        tested = resolve(route).func
        documented = pattern.callback
        assert getattr(tested, "view_class", tested) is getattr(
            documented, "view_class", documented
        )


def test_custom_serializer_recipe_is_the_tested_one():
    serializer = recipe_namespace("custom-serializer")["PasswordLoginSerializer"]
    assert set(serializer().fields) == {"username", "password"}
