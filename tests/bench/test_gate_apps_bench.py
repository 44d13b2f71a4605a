"""The applications gate benchmark's world on small numbers, so it cannot rot unnoticed: every
application (exact, path and wildcard hosts) admits the bench token with its own JWT through a
real gate, only its last policy admits it, the wrk script names every application, and the
in-process timing runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.apps_world import build_world, check_world, in_process, lua_script, policies_for
from bench.harness import ServerThread

from servicetokens.bootstrap import build_use_cases, gate_on
from servicetokens.domain.enforcement import PolicyView, RequestFacts, TokenFacts
from servicetokens.domain.enforcement.policies import policy_matches
from servicetokens.gate.settings import GateSettings
from servicetokens.store.database import Database
from servicetokens.store.engine import make_engine
from servicetokens.store.migrate import upgrade


async def _ok(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok\n"})


def test_only_the_last_policy_admits_the_bench_token() -> None:
    made = policies_for("tok", ["o1", "o2", "o3"], 10)
    assert len(made) == 10
    facts = RequestFacts("h", "/", "127.0.0.1", TokenFacts("tok", "c.access", "a" * 32))
    views = [
        PolicyView(
            f"p{k}",
            p["decision"],
            k,
            tuple(p["include"]),
            tuple(p.get("require", ())),
            tuple(p.get("exclude", ())),
        )
        for k, p in enumerate(made)
    ]
    matched = [v.id for v in views if policy_matches(v, facts, account_id="a" * 32)]
    assert matched == ["p9"]


def test_every_application_admits_with_its_own_jwt(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'bench.db'}"
    engine = make_engine(database, pool_size=2)
    upgrade(engine)
    service = build_use_cases(Database(engine))
    with ServerThread(_ok) as upstream:
        world = build_world(service, "smoke", 12, 10, upstream.url)
        assert len(world.targets) == 12
        assert ("*.zone9.example.com", upstream.url) in world.routes
        settings = GateSettings(account_id=world.account, routes=tuple(world.routes))
        gate = gate_on(settings, Database(make_engine(database, pool_size=2)))
        with ServerThread(gate) as served:
            check_world(served.url, world)
    script = lua_script(tmp_path / "spread.lua", world).read_text()
    for host, path in world.targets:
        assert f'{{"{host}", "{path}"}}' in script
    figures = in_process(database, {"smoke": world}, 200)
    assert set(figures) == {
        "smoke: one application",
        "smoke: every application",
        "single upstream (Verifier.decide)",
    }
    assert all(value > 0 for value in figures.values())
    engine.dispose()
