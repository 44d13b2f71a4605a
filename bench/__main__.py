"""`python -m bench` (= `make bench`): the whole suite; flags narrow it to single scenarios.

    python -m bench                                   # 10^3, 10^5, 10^6 on SQLite and PostgreSQL
    python -m bench --quick                           # smoke: 10^3, SQLite, 2 s each, no peer
    python -m bench --scenario list-20 --tokens 100000 --engine postgresql
    python -m bench --scenario list-20 --tokens 1000 --profile list-20
    python -m bench --scenario search-isolation --tokens 100000 --engine sqlite --engine postgresql

Full runs append their table to docs/performance.md; `--quick` and narrowed runs do not
unless `--record` is given.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from bench import isolation
from bench.load import have_wrk
from bench.peer_moto import moto_available, run_moto
from bench.report import Row, append_to_docs, environment, git_revision, render
from bench.run import PG_ADMIN, Options, gate_available, log, measure_size
from bench.scenarios import GATE, SCENARIOS, Scenario, by_name

SIZES = [1_000, 100_000, 1_000_000]
ENGINES = ["sqlite", "postgresql"]
PEER_ROWS = {"list-20": "moto-list-20", "list-name": "moto-list-name"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    names = [s.name for s in SCENARIOS] + [isolation.NAME]
    parser.add_argument("--scenario", action="append", choices=names, help="repeatable")
    parser.add_argument("--tokens", action="append", type=int, help="repeatable")
    parser.add_argument("--engine", action="append", choices=ENGINES, help="repeatable")
    parser.add_argument("--quick", action="store_true", help="10^3, SQLite, 2 s, no peer")
    parser.add_argument("--seconds", type=float, default=None, help="per scenario (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before each")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t")
    parser.add_argument("--connections", type=int, default=32, help="wrk -c")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--peer-tokens", action="append", type=int, help="moto sizes (10^3)")
    parser.add_argument("--no-peer", action="store_true", help="skip moto")
    parser.add_argument("--profile", metavar="SCENARIO", help="py-spy the server during it")
    parser.add_argument("--record", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    return parser


def _scenarios(args: argparse.Namespace) -> list[Scenario]:
    if args.scenario and set(args.scenario) <= {isolation.NAME}:
        return []  # only the composite scenario, which brings its own server and baseline
    named = [n for n in args.scenario or [] if n != isolation.NAME]
    chosen = [by_name(n) for n in named] if named else list(SCENARIOS)
    if not gate_available():
        log("no `servicetokens gate` command: gate scenarios skipped")
        chosen = [s for s in chosen if s.target != GATE]
    # Every ratio needs its baseline measured against the same server in the same run.
    for scenario in list(chosen):
        baseline = by_name(scenario.baseline)
        if baseline not in chosen:
            chosen.insert(0, baseline)
    order = {s.name: i for i, s in enumerate(SCENARIOS)}
    return sorted(chosen, key=lambda s: order[s.name])


def _peer(
    args: argparse.Namespace, sizes: list[int], seconds: float, workdir: Path
) -> tuple[list[Row], list[str]]:
    if args.no_peer or args.quick:
        return [], []
    if not moto_available():
        return [], ["moto not installed (pip install -e '.[bench]'): no peer rows"]
    rows = []
    for count in args.peer_tokens or [s for s in sizes if s <= 1_000] or [1_000]:
        measured = run_moto(count, seconds=seconds, workdir=workdir, log=log)
        for scenario, (result, rss, pss) in measured.items():
            rows.append(
                Row(
                    engine="moto",
                    tokens=count,
                    scenario=scenario,
                    rps=result.rps,
                    p50_ms=result.p50_ms,
                    p99_ms=result.p99_ms,
                    rss_mb=rss,
                    rss_process_mb=rss,
                    pss_mb=pss,
                    bad=result.bad_status + result.socket_errors,
                    baseline="",
                    note="ListSecrets via moto_server (one process)",
                )
            )
    return rows, []


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started_at_rev = git_revision()
    sizes = args.tokens or ([1_000] if args.quick else SIZES)
    engines = args.engine or (["sqlite"] if args.quick else ENGINES)
    seconds = args.seconds or (2.0 if args.quick else 5.0)
    narrowed = bool(args.quick or args.scenario or args.tokens or args.engine)
    record = (not narrowed) if args.record is None else args.record
    scenarios = _scenarios(args)
    if args.profile:
        scenarios = sorted({*scenarios, by_name(args.profile)}, key=SCENARIOS.index)
    rows: list[Row] = []
    notes: list[str] = []
    seeded_in: list[str] = []
    # Kept afterwards: server logs and raw profiles (databases are removed as each size ends).
    workdir = Path(tempfile.mkdtemp(prefix="servicetokens-bench-"))
    log(f"work directory (logs, profiles): {workdir}")
    opts = Options(
        seconds=seconds,
        warmup=args.warmup,
        threads=args.threads,
        connections=args.connections,
        workers=args.workers,
        profile_scenario=args.profile,
        workdir=workdir,
    )
    for engine in engines:
        for count in sizes:
            if scenarios:
                size_rows, seed_seconds = measure_size(engine, count, scenarios, opts)
                rows += size_rows
                seeded_in.append(f"{engine} {count:,}: {seed_seconds:.0f} s")
            if isolation.NAME in (args.scenario or []):
                size_rows, seed_seconds = isolation.run_search_isolation(engine, count, opts)
                rows += size_rows
                seeded_in.append(f"{engine} {count:,} ({isolation.NAME}): {seed_seconds:.0f} s")
            # Rows so far, in case a later size fails.
            (workdir / "rows.json").write_text(json.dumps([asdict(r) for r in rows], indent=2))
    peer_rows, peer_notes = _peer(args, sizes, seconds, workdir)
    notes += peer_notes
    for row in rows:
        peer = next(
            (
                p
                for p in peer_rows
                if p.scenario == PEER_ROWS.get(row.scenario) and p.tokens == row.tokens
            ),
            None,
        )
        if peer is not None and peer.rps:
            row.vs_peer = row.rps / peer.rps
    rows += peer_rows
    tool = "wrk" if have_wrk() else "python (httpx) fallback"
    settings = (
        f"server `--workers {args.workers}`; {tool} -t{args.threads} -c{args.connections}, "
        f"{seconds:g} s per scenario after a {args.warmup:g} s warm-up"
    )
    if isolation.NAME in (args.scenario or []):
        own = isolation.settings(tool, workers=args.workers, seconds=seconds, warmup=args.warmup)
        settings = f"{settings}; {own}" if scenarios else own
    notes.append("seeded (bulk insert, one account): " + "; ".join(seeded_in))
    notes.append(
        "× baseline: API rows ÷ the API's `GET /healthz`, gate rows ÷ the gate's own health "
        "endpoint (the gate is one process), each against the same server in the same run."
    )
    notes.append("× moto: our rps ÷ moto's ListSecrets rps at the same item count and page size.")
    for label, summary in opts.profiles.items():
        notes.append(f"py-spy profile of {label}: see the log for the full summary")
        log(summary)
    table = render(rows)
    print(table)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2))
    if record:
        command = "python -m bench" + (" " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "")
        env = environment(admin_url=PG_ADMIN, load_tool=tool, started_at_rev=started_at_rev)
        path = append_to_docs(rows, env=env, command=command, settings=settings, notes=notes)
        log(f"appended to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
