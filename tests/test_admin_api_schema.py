"""The OpenAPI schema: the admin API's operations, the security schemes and lockout responses."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.test import override_settings
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.authentication import BasicAuthentication

from drf_defender import openapi
from drf_defender.integrations.rest_framework import (
    DefenderBasicAuthentication,
    DefenderTokenAuthentication,
)

ADMIN_PREFIX = "/api/defender/"
DEFENDER_SCHEMA = {"DEFAULT_SCHEMA_CLASS": "drf_defender.openapi.DefenderAutoSchema"}
DOCS_SCRIPT = Path(__file__).resolve().parent.parent / "docs" / "gen_api_reference.py"

#: Every admin API operation, with the error responses it documents besides 401 and 403.
OPERATIONS = {
    ("/api/defender/blocks/", "get"): ("defender_blocks_list", {"400", "503"}),
    ("/api/defender/blocks/", "post"): ("defender_blocks_create", {"400", "503"}),
    ("/api/defender/blocks/unblock/", "post"): ("defender_blocks_unblock", {"400", "503"}),
    ("/api/defender/blocks/unblock-all/", "post"): (
        "defender_blocks_unblock_all",
        {"400", "503"},
    ),
    ("/api/defender/status/", "get"): ("defender_status_retrieve", {"400", "503"}),
    ("/api/defender/lists/", "get"): ("defender_lists_list", {"503"}),
    ("/api/defender/lists/{name}/", "get"): ("defender_lists_retrieve", {"404", "503"}),
    ("/api/defender/lists/{name}/entries/", "post"): (
        "defender_lists_entries_add",
        {"400", "404", "503"},
    ),
    ("/api/defender/lists/{name}/entries/", "delete"): (
        "defender_lists_entries_remove",
        {"400", "404", "503"},
    ),
    ("/api/defender/attempts/", "get"): ("defender_attempts_list", {"400"}),
    ("/api/defender/attempts/{id}/", "get"): ("defender_attempts_retrieve", {"404"}),
    ("/api/defender/summary/", "get"): ("defender_summary_retrieve", {"400", "503"}),
}

#: Paths of tests/admin_api_urls.py whose views can return the lockout response.
LOCKOUT_PATHS = {
    ("/api/token/", "post"),
    ("/api/jwt/", "post"),
    ("/api/jwt-configured/", "post"),
    ("/api/rest-auth/login/", "post"),
    ("/api/whoami/basic/", "get"),
    ("/api/whoami/token/", "get"),
}
PLAIN_PATHS = {("/api/plain-token/", "post"), ("/api/whoami/plain/", "get")}


def generate(tmp_path: Path, urlconf: str = "tests.admin_api_urls") -> dict[str, Any]:
    """Run ``manage.py spectacular --validate --fail-on-warn`` and load its output."""
    output = tmp_path / "schema.yaml"
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--urlconf",
        urlconf,
        "--file",
        str(output),
    )
    schema: dict[str, Any] = yaml.safe_load(output.read_text(encoding="utf-8"))
    return schema


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The schema of tests/admin_api_urls.py with DefenderAutoSchema, generated once."""
    with override_settings(REST_FRAMEWORK=DEFENDER_SCHEMA):
        return generate(tmp_path_factory.mktemp("schema"))


@pytest.fixture(scope="module")
def default_schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same schema with drf-spectacular's own AutoSchema."""
    return generate(tmp_path_factory.mktemp("default-schema"))


def admin_operations(schema: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path, method): operation
        for path, methods in schema["paths"].items()
        if path.startswith(ADMIN_PREFIX)
        for method, operation in methods.items()
    }


# --- the admin API's own schema -----------------------------------------------------------


def test_schema_validates_with_drf_spectacular_default(default_schema):
    assert set(admin_operations(default_schema)) == set(OPERATIONS)


def test_schema_validates_with_defender_autoschema(schema):
    assert set(admin_operations(schema)) == set(OPERATIONS)


def test_operation_ids_are_stable(schema):
    operations = admin_operations(schema)

    for key, (operation_id, _errors) in OPERATIONS.items():
        assert operations[key]["operationId"] == operation_id


@pytest.mark.parametrize("key", list(OPERATIONS), ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_operation_is_complete(schema, key):
    operation = admin_operations(schema)[key]
    _operation_id, errors = OPERATIONS[key]
    responses = operation["responses"]

    assert len(operation["tags"]) == 1
    assert operation["tags"][0].startswith("defender-")
    assert operation["summary"]
    assert operation["description"]
    assert {code for code in responses if code.startswith(("4", "5"))} == errors | {"401", "403"}
    success = [code for code in responses if code.startswith("2")]
    assert success
    for code in success:
        assert responses[code]["description"]
        assert "$ref" in str(responses[code]["content"]["application/json"]["schema"])
    for code in errors | {"401", "403"}:
        body = responses[code]["content"]["application/json"]["schema"]["$ref"]
        expected = "DefenderValidationError" if code == "400" else "DefenderError"
        assert body == f"#/components/schemas/{expected}"
    assert "WWW-Authenticate" in responses["401"]["headers"]
    if key[1] == "post":
        assert list(operation["requestBody"]["content"]) == ["application/json"]


def test_admin_components_are_prefixed(schema):
    referenced = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                referenced.add(ref.rsplit("/", 1)[-1])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(list(admin_operations(schema).values()))
    components = schema["components"]["schemas"]
    walk([components[name] for name in list(referenced)])

    assert referenced
    assert all(name.startswith("Defender") for name in referenced)


def test_enums_are_named_components(schema):
    components = schema["components"]["schemas"]

    assert components["DefenderKind"]["enum"] == ["ip", "username", "ipusername"]
    assert components["DefenderScope"]["enum"] == ["login", "password_reset"]
    request = components["DefenderBlockRequest"]
    assert request["properties"]["kind"]["allOf"] == [{"$ref": "#/components/schemas/DefenderKind"}]
    assert request["required"] == ["kind"]


# --- security schemes and lockout responses --------------------------------------------------


def test_security_schemes_need_no_setting(default_schema):
    schema = default_schema
    schemes = schema["components"]["securitySchemes"]
    paths = schema["paths"]

    assert schemes["defenderBasicAuth"] == {"type": "http", "scheme": "basic"}
    assert schemes["defenderTokenAuth"]["type"] == "apiKey"
    assert schemes["defenderTokenAuth"]["name"] == "Authorization"
    assert paths["/api/whoami/basic/"]["get"]["security"] == [{"defenderBasicAuth": []}]
    assert paths["/api/whoami/token/"]["get"]["security"] == [{"defenderTokenAuth": []}]
    # The plain AutoSchema documents no lockout.
    assert "429" not in paths["/api/token/"]["post"]["responses"]


def _lockout(operation: dict[str, Any]) -> dict[str, Any] | None:
    response: dict[str, Any] | None = operation["responses"].get("429")
    return response


def test_lockout_documented_where_it_applies(schema):
    paths = schema["paths"]

    for path, method in LOCKOUT_PATHS:
        response = _lockout(paths[path][method])
        assert response is not None, path
        assert "Retry-After" in response["headers"], path
        body = response["content"]["application/json"]["schema"]
        assert body == {"$ref": "#/components/schemas/DefenderLockout"}, path
    for path, method in PLAIN_PATHS:
        assert _lockout(paths[path][method]) is None, path

    lockout = schema["components"]["schemas"]["DefenderLockout"]
    assert set(lockout["properties"]) == {"detail", "code", "retry_after"}
    assert lockout["properties"]["retry_after"]["nullable"] is True
    assert set(lockout["required"]) == {"detail", "code", "retry_after"}


def test_lockout_follows_status_code_and_outage_policy(tmp_path):
    settings = {
        "REST_FRAMEWORK": DEFENDER_SCHEMA,
        "DEFENDER_LOCKOUT_STATUS_CODE": 403,
        "DEFENDER_BACKEND_FAILURE_POLICY": "closed",
    }
    with override_settings(**settings):
        schema = generate(tmp_path)

    responses = schema["paths"]["/api/token/"]["post"]["responses"]
    assert "429" not in responses
    assert responses["403"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/DefenderLockout"
    )
    assert responses["503"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/DefenderBackendUnavailable"
    )


def test_lockout_merged_with_documented_status():
    responses: dict[str, Any] = {
        "403": {
            "description": "Forbidden.",
            "content": {"application/json": {"schema": {"$ref": "#/x/Error"}}},
        }
    }
    lockout = {
        "description": "Locked out.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        "content": {"application/json": {"schema": {"$ref": "#/x/Lockout"}}},
    }

    openapi._merge_response(responses, "403", lockout)

    merged = responses["403"]
    assert merged["description"] == "Forbidden. Locked out."
    assert merged["content"]["application/json"]["schema"] == {
        "oneOf": [{"$ref": "#/x/Error"}, {"$ref": "#/x/Lockout"}]
    }
    assert "Retry-After" in merged["headers"]


def test_lockout_on_test_project_endpoints():
    """The lockout contract appears on the integrations' routes of the test project."""
    with override_settings(REST_FRAMEWORK=DEFENDER_SCHEMA, ROOT_URLCONF="tests.urls"):
        schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    paths = schema["paths"]

    protected = [
        ("/api/auth/token/", "post"),
        ("/api/auth/jwt/", "post"),
        ("/api/auth/jwt/settings/", "post"),
        ("/api/auth/login/", "post"),
        ("/api/reset/", "post"),
        ("/api/reset/confirm/", "post"),
    ]
    for path, method in protected:
        assert "429" in paths[path][method]["responses"], path
    for path, method in [("/api/auth/token/plain/", "post"), ("/api/auth/login/plain/", "post")]:
        assert "429" not in paths[path][method]["responses"], path


class Renamed:
    """A class that claims the dotted name of drf-defender's Basic authentication."""


Renamed.__module__ = "drf_defender.integrations.rest_framework"
Renamed.__qualname__ = "DefenderBasicAuthentication"


def test_schemes_match_by_name_without_import():
    class Subclass(DefenderBasicAuthentication):
        pass

    basic = openapi.DefenderBasicAuthenticationScheme
    assert basic._matches(DefenderBasicAuthentication())
    assert basic._matches(Subclass())
    assert basic._matches(Renamed())
    assert not basic._matches(BasicAuthentication())
    assert not openapi.DefenderTokenAuthenticationScheme._matches(Subclass())


def test_token_scheme_with_other_keyword():
    class BearerAuthentication(DefenderTokenAuthentication):
        keyword = "Bearer"

    scheme = openapi.DefenderTokenAuthenticationScheme(BearerAuthentication())

    assert scheme.name == "defenderBearerTokenAuth"
    assert scheme.get_security_definition(None) == {"type": "http", "scheme": "bearer"}


# --- the generated reference in the docs ------------------------------------------------------


def _docs_module() -> Any:
    spec = importlib.util.spec_from_file_location("gen_api_reference", DOCS_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_reference_is_up_to_date():
    module = _docs_module()
    page = module.PAGE.read_text(encoding="utf-8")

    expected = module.replace_section(page, module.render_reference(module.build_schema()))

    assert page == expected, "docs/admin-api.md is stale: run python docs/gen_api_reference.py"


def test_docs_reference_covers_every_operation():
    module = _docs_module()
    page = module.PAGE.read_text(encoding="utf-8")

    for operation_id, _errors in OPERATIONS.values():
        assert f"operationId `{operation_id}`" in page
