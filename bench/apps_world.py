"""The worlds `bench/gate_apps.py` measures: accounts of Access applications made through the
control plane's use cases, the requests each application admits, the gate serving them, a
wrk script cycling through them, and the in-process decision timing."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

__all__ = [
    "World",
    "build_world",
    "check_world",
    "in_process",
    "lua_script",
    "policies_for",
    "serve_app_gate",
    "target_of",
]

SHARED_HOSTS = 37


@dataclass
class World:
    """One account's applications and what a request to each of them looks like."""

    account: str
    client_id: str
    secret: str
    targets: list[tuple[str, str]] = field(default_factory=list)
    """(host, path) of one request per application, each admitted by it."""
    auds: list[str] = field(default_factory=list)
    routes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"CF-Access-Client-Id": self.client_id, "CF-Access-Client-Secret": self.secret}


def target_of(i: int) -> tuple[str, str, str]:
    """(domain, request host, request path) of application `i`: 70 % exact hosts, 20 % path
    applications on shared hosts, 10 % wildcard subdomains."""
    if i % 10 < 7:
        return f"app{i}.example.com", f"app{i}.example.com", "/index.html?x=1"
    if i % 10 < 9:
        host = f"site{i % SHARED_HOSTS}.example.com"
        return f"{host}/svc{i}", host, f"/svc{i}/items/42"
    return f"*.zone{i}.example.com", f"host.zone{i}.example.com", "/"


def policies_for(admitted: str, others: list[str], per_app: int) -> list[dict[str, Any]]:
    """`per_app` inline policies, the last (Service Auth) one admitting token `admitted` from
    loopback, the others never admitting it."""
    made: list[dict[str, Any]] = []
    for k in range(per_app - 1):
        kind, name = k % 5, f"p{k}"
        if kind == 0:
            rules = [{"service_token": {"token_id": other}} for other in others]
            made.append({"name": name, "decision": "non_identity", "include": rules})
        elif kind == 1:  # the client is outside this range
            made.append({"name": name, "decision": "bypass", "include": [_ip("203.0.113.0/24")]})
        elif kind == 2:  # its include holds for the token, its exclude refuses loopback
            made.append(
                {
                    "name": name,
                    "decision": "non_identity",
                    "include": [{"any_valid_service_token": {}}],
                    "exclude": [_ip("127.0.0.0/8")],
                }
            )
        elif kind == 3:
            made.append(
                {"name": name, "decision": "allow", "include": [{"email": {"email": "a@b.c"}}]}
            )
        else:
            made.append({"name": name, "decision": "deny", "include": [_ip("192.0.2.0/24")]})
    include = [{"service_token": {"token_id": admitted}}] + [
        {"service_token": {"token_id": other}} for other in others
    ]
    made.append(
        {
            "name": "admit",
            "decision": "non_identity",
            "include": include,
            "require": [_ip("127.0.0.0/8")],
        }
    )
    return made


def _ip(cidr: str) -> dict[str, Any]:
    return {"ip": {"ip": cidr}}


def build_world(service: Any, name: str, apps: int, per_app: int, upstream: str) -> World:
    """An account named `name` with a strict organization, a bench token, three other
    tokens, and `apps` applications (`target_of`) of `per_app` policies each."""
    from servicetokens.domain.fields import TokenFields
    from servicetokens.domain.permissions import (
        ContainerKind,
        Grant,
        Permission,
        Principal,
        PrincipalKind,
    )
    from servicetokens.usecases.authorization import ContainerRef

    account = service.admin.create_account(name)
    grant = Grant(ContainerKind.ACCOUNT, account, Permission.WRITE)
    principal = Principal(PrincipalKind.API_TOKEN, "bench", (grant,))
    ref = ContainerRef(ContainerKind.ACCOUNT, account, "/")
    token, secret = service.tokens.create(principal, ref, TokenFields(name="bench"))
    others = [
        service.tokens.create(principal, ref, TokenFields(name=f"o{k}"))[0].id for k in range(3)
    ]
    service.organizations.update(
        principal, ref, {"name": name, "auth_domain": f"{name}.bench.example"}
    )
    world = World(account, token.client_id, secret)
    world.routes.append(("*.example.com", upstream))
    policies = policies_for(token.id, others, per_app)
    for i in range(apps):
        domain, host, path = target_of(i)
        body = {"type": "self_hosted", "domain": domain, "name": f"app {i}", "policies": policies}
        made = service.applications.create(principal, ref, body)
        world.targets.append((host, path))
        world.auds.append(made.app.aud)
        if domain.startswith("*."):
            world.routes.append((domain, upstream))
    return world


def serve_app_gate(
    database: str, account: str, routes: list[tuple[str, str]], port: int, cookie: bool = True
) -> None:
    """A gate serving the account's applications, exactly as `servicetokens gate --account
    ... --route ... [--no-cookie]` runs it."""
    import uvicorn

    from servicetokens.bootstrap import build_gate
    from servicetokens.config import Settings
    from servicetokens.gate.settings import GateSettings

    gate = build_gate(
        GateSettings(account_id=account, routes=tuple(routes), cookie=cookie),
        Settings(database_url=database),
    )
    uvicorn.run(
        gate,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
        date_header=False,
        proxy_headers=False,
        lifespan="on",
    )


def lua_script(path: Path, world: World) -> Path:
    """A wrk script cycling through every application's request (Host, path), with the
    bench token's credentials."""
    lines = ["local targets = {"]
    lines += [f'  {{"{host}", "{target}"}},' for host, target in world.targets]
    lines += [
        "}",
        "local i = 0",
        "request = function()",
        "  i = i % #targets + 1",
        "  local t = targets[i]",
        '  wrk.headers["Host"] = t[1]',
        f'  wrk.headers["CF-Access-Client-Id"] = "{world.client_id}"',
        f'  wrk.headers["CF-Access-Client-Secret"] = "{world.secret}"',
        '  return wrk.format("GET", t[2])',
        "end",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def check_world(base: str, world: World) -> None:
    """Every application admits its request through the proxy, and forward-auth shows the
    JWT it signs for it has the application's tag as `aud`."""
    import jwt

    with httpx.Client(base_url=base, timeout=10) as client:
        for (host, path), aud in zip(world.targets, world.auds, strict=True):
            proxied = client.get(path, headers={"Host": host, **world.headers})
            assert proxied.status_code == 200, (host, path, proxied.text)
            asked = client.get(
                "/cdn-cgi/access/authorize",
                headers={"X-Forwarded-Host": host, "X-Forwarded-Uri": path, **world.headers},
            )
            assert asked.status_code == 200, (host, path, asked.text)
            assertion = asked.headers["cf-access-jwt-assertion"]
            claims = jwt.decode(assertion, options={"verify_signature": False})
            assert claims["aud"] == [aud], (host, path)


def in_process(database: str, worlds: dict[str, World], requests: int) -> dict[str, float]:
    """µs per decision in this process (best of 5 rounds of `requests`), per world and
    shape, and for the single-upstream verifier on the first world's token."""
    from servicetokens.bootstrap import gate_on
    from servicetokens.gate.settings import GateSettings
    from servicetokens.store.database import Database
    from servicetokens.store.engine import make_engine

    results: dict[str, float] = {}

    async def rounds(call: Any, targets: list[tuple[str, str]]) -> float:
        count = len(targets)
        for k in range(min(requests, 2000)):  # warm: caches, JWTs
            await call(*targets[k % count])
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            for k in range(requests):
                await call(*targets[k % count])
            samples.append((time.perf_counter() - started) / requests * 1e6)
        return min(samples)

    async def run() -> None:
        for name, world in worlds.items():
            engine = make_engine(database, pool_size=2)
            settings = GateSettings(account_id=world.account, routes=tuple(world.routes))
            gate = gate_on(settings, Database(engine))
            await gate.startup()
            try:
                access = gate.access
                assert access is not None
                headers = [(k.lower().encode(), v.encode()) for k, v in world.headers.items()]

                async def call(
                    host: str, target: str, access: Any = access, headers: Any = headers
                ) -> None:
                    decision = await access.decide(
                        headers, host=host, target=target, client="127.0.0.1", method="GET"
                    )
                    assert decision.status == 200, decision.reason

                results[f"{name}: one application"] = await rounds(call, world.targets[:1])
                if len(world.targets) > 1:
                    results[f"{name}: every application"] = await rounds(call, world.targets)
            finally:
                await gate.shutdown()
        world = next(iter(worlds.values()))
        engine = make_engine(database, pool_size=2)
        single = gate_on(
            GateSettings(account_id=world.account, upstream="http://127.0.0.1:9", cookie=False),
            Database(engine),
        )
        await single.startup()
        try:
            headers = [(k.lower().encode(), v.encode()) for k, v in world.headers.items()]

            async def verify(host: str, target: str) -> None:
                decision = await single.verifier.decide(headers, origin="127.0.0.1")
                assert decision.status == 200, decision.reason

            results["single upstream (Verifier.decide)"] = await rounds(verify, [("", "")])
        finally:
            await single.shutdown()

    asyncio.run(run())
    return results
