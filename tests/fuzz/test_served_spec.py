"""Schemathesis against the OpenAPI document we serve at `/client/v4/openapi.json`.

The document is fetched from the application itself (no database is needed to serve it), so
whatever the server declares is what is checked: no 5xx, status codes, content types and
bodies as declared, and the v4 envelope on every answer.
"""

from __future__ import annotations

import copy
import re
import tempfile
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

from servicetokens.api import create_app
from servicetokens.bootstrap import build_use_cases
from servicetokens.store.database import Database
from servicetokens.store.engine import make_engine
from tests.fuzz.conftest import QUICK_PHASES, FuzzEnv, deep, v4_envelope

OPENAPI_PATH = "/client/v4/openapi.json"


def _served_document() -> dict[str, Any]:
    # Not entered as a context manager: no lifespan, and the use cases never reach their
    # database (an empty file, removed with its directory).
    with tempfile.TemporaryDirectory() as directory:
        service = build_use_cases(Database(make_engine(f"sqlite:///{directory}/unused.db")))
        response = TestClient(create_app(service)).get(OPENAPI_PATH)
        service.close()
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


_METHODS = {"get", "put", "post", "delete", "patch"}


def _undeclared_path_parameters(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(path, method, name) for every `{name}` in a path the operation does not declare."""
    missing = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            declared = {
                p["name"]
                for p in [*item.get("parameters", []), *operation.get("parameters", [])]
                if p.get("in") == "path"
            }
            missing += [
                (path, method, name)
                for name in re.findall(r"{(\w+)}", path)
                if name not in declared
            ]
    return missing


def _repaired(document: dict[str, Any]) -> dict[str, Any]:
    """The document with undeclared path parameters declared as strings, so one defect
    (reported by its own test below) does not stop the fuzzing of everything else."""
    fixed = copy.deepcopy(document)
    for path, method, name in _undeclared_path_parameters(document):
        fixed["paths"][path][method].setdefault("parameters", []).append(
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        )
    return fixed


_DOCUMENT = _served_document()
schema = schemathesis.openapi.from_dict(_repaired(_DOCUMENT))
schema.config.generation.update(with_security_parameters=False)

SAFETY = [not_a_server_error, v4_envelope]
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]
_SETTINGS = {"deadline": None, "suppress_health_check": list(HealthCheck), "database": None}


def _run(case: schemathesis.Case, env: FuzzEnv, checks: list[Any]) -> None:
    env.aim(case.path_parameters)
    case.call_and_validate(
        app=env.app, base_url="http://localhost", headers=env.headers, checks=checks
    )


def test_served_document_declares_every_path_parameter() -> None:
    assert _undeclared_path_parameters(_DOCUMENT) == []


@schema.parametrize()
@settings(max_examples=10, phases=QUICK_PHASES, **_SETTINGS)
def test_served_contract(case: schemathesis.Case, fuzz_env: FuzzEnv) -> None:
    _run(case, fuzz_env, SAFETY + CONFORMANCE)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=deep(50), **_SETTINGS)  # every served operation, both engines: CI time
def test_served_contract_deep(case: schemathesis.Case, engine_env: FuzzEnv) -> None:
    _run(case, engine_env, SAFETY + CONFORMANCE)
