"""The benchmark harness end to end on a tiny database, so it cannot rot unnoticed.

Seeds a few hundred tokens through the bulk path, starts `servicetokens serve` as the
benchmark does, checks and drives two scenarios (one static URL, one cycled through many
URLs) for a second each, and renders the table.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from bench.isolation import near_universal_terms, run_search_isolation
from bench.load import Load, run_load
from bench.profile import summarise
from bench.report import render
from bench.run import Options, measure_size
from bench.scenarios import by_name
from bench.seed import NAME_GROUP, name_for, seed


def test_seed_writes_the_requested_tokens(tmp_path: Path) -> None:
    seeded = seed(f"sqlite:///{tmp_path / 'seed.db'}", 250, batch=100)
    assert seeded.count == 250
    assert len(seeded.token_ids) == 250  # fewer than the sample size: every id is kept
    assert len(set(seeded.client_ids)) == 250
    # Names come in groups of NAME_GROUP (what the name-filter scenarios' notes promise).
    with sqlite3.connect(tmp_path / "seed.db") as db:
        groups = db.execute("SELECT name, COUNT(*) FROM service_tokens GROUP BY name").fetchall()
    assert sorted(groups) == [(name_for(i), NAME_GROUP) for i in range(0, 250, NAME_GROUP)]
    assert f"{NAME_GROUP} hits each" in by_name("list-name").note


def test_two_scenarios_end_to_end(tmp_path: Path) -> None:
    scenarios = [by_name("healthz"), by_name("list-20"), by_name("list-name")]
    opts = Options(seconds=1, warmup=0, connections=4, workdir=tmp_path)
    rows, _ = measure_size("sqlite", 300, scenarios, opts)
    assert [r.scenario for r in rows] == ["healthz", "list-20", "list-name"]
    for row in rows:
        assert row.rps > 0, row
        assert row.bad == 0, row
        assert 0 < row.p50_ms <= row.p99_ms, row
        assert row.rss_mb > 0, row
        assert row.baseline == "healthz", row
    # Each ratio is that scenario's throughput over healthz's, measured in the same run.
    healthz = rows[0]
    for row in rows[1:]:
        assert row.ratio == pytest.approx(row.rps / healthz.rps), row
    table = render(rows)
    for row in rows[1:]:
        assert f"{row.ratio:.2f} (healthz)" in table, table


def test_profile_summary_folds_collapsed_stacks(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text(
        "main (app.py:1);handle (app.py:5);query (db.py:9) 3\n"
        "main (app.py:1);handle (app.py:5);dumps (json.py:2) 1\n"
    )
    summary = summarise(raw)
    assert "4 busy samples" in summary
    assert "100.0%  handle (app.py)" in summary
    assert "75.0%  query (db.py)" in summary


def test_cycled_header_values_really_vary() -> None:
    """The gate's cold scenario relies on every request carrying another client id."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            seen.append(self.headers.get("X-Id", ""))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        load = Load("GET", ["/"], cycle_header="X-Id", cycle_values=[str(n) for n in range(50)])
        result = run_load(url, load, seconds=1, threads=1, connections=2)
    finally:
        server.shutdown()
        server.server_close()
    assert result.requests > 0
    assert len(set(seen)) > 10


def test_isolation_terms_are_distinct_and_near_universal() -> None:
    terms = near_universal_terms()
    assert len(terms) == len(set(terms)) > 400
    keys = [
        f"{name_for(i).casefold()}\n{secrets.token_hex(16)}.access" for i in range(0, 50_000, 50)
    ]
    for term in terms:
        share = sum(term.casefold() in key for key in keys) / len(keys)
        assert share > 0.8, (term, share)


def test_search_isolation_end_to_end(tmp_path: Path) -> None:
    opts = Options(seconds=1, warmup=0, connections=4, workdir=tmp_path)
    rows, _ = run_search_isolation("sqlite", 300, opts)
    assert [r.scenario for r in rows] == [
        "search-isolation-alone",
        "search-isolation",
        "search-isolation-searches",
    ]
    for row in rows:
        assert row.rps > 0, row
        assert row.bad == 0, row
    assert "all misses" in rows[2].note
