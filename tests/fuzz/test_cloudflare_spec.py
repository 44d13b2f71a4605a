"""Schemathesis against Cloudflare's own OpenAPI (base URL `/client/v4`, real ids, a Write
token): no 5xx, status, content type and body as the spec declares, and the v4 envelope."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz.conftest import CLOUDFLARE_SPEC, QUICK_PHASES, FuzzEnv, deep, v4_envelope

schema = schemathesis.openapi.from_path(CLOUDFLARE_SPEC)
# Credentials come from the test (a real Write token), not from generated security headers.
schema.config.generation.update(with_security_parameters=False)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    v4_envelope,
]
BASE_URL = "http://localhost/client/v4"
_SETTINGS = {"deadline": None, "suppress_health_check": list(HealthCheck), "database": None}


def _run(case: schemathesis.Case, env: FuzzEnv) -> None:
    env.aim(case.path_parameters)
    case.call_and_validate(app=env.app, base_url=BASE_URL, headers=env.headers, checks=CHECKS)


@schema.parametrize()
@settings(max_examples=10, phases=QUICK_PHASES, **_SETTINGS)
def test_cloudflare_contract(case: schemathesis.Case, fuzz_env: FuzzEnv) -> None:
    _run(case, fuzz_env)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=deep(100), **_SETTINGS)
def test_cloudflare_contract_deep(case: schemathesis.Case, engine_env: FuzzEnv) -> None:
    _run(case, engine_env)
