"""The results table, the machine and versions it was measured on, and docs/performance.md."""

from __future__ import annotations

import datetime as dt
import os
import platform
import sqlite3
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

__all__ = ["Row", "append_to_docs", "environment", "git_revision", "render"]

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "performance.md"
RUNS_END = "<!-- bench: new runs are inserted above this line -->"


@dataclass(slots=True)
class Row:
    """One measured scenario."""

    engine: str
    tokens: int
    scenario: str
    rps: float
    p50_ms: float
    p99_ms: float
    rss_mb: float
    """Peak RSS summed over the server's process tree during the run."""
    rss_process_mb: float
    """Peak RSS of the largest single process of that tree."""
    pss_mb: float
    """Peak PSS summed over the tree (shared pages counted once)."""
    bad: int
    """Non-2xx answers plus socket errors (should be 0)."""
    baseline: str
    note: str = ""
    ratio: float | None = None
    """Throughput ÷ the baseline's, measured against the same server in the same run."""
    vs_peer: float | None = None
    """Throughput ÷ moto's at the same item count and page size."""


def _run(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"


def _postgres_version(admin_url: str) -> str:
    try:
        import psycopg

        with psycopg.connect(admin_url, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else "-"
    except Exception:
        return "unavailable"


def git_revision() -> str:
    """The checked-out commit, and whether tracked files differ from it."""
    rev = _run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]) or "unknown"
    if _run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"]):
        rev += " (with uncommitted changes)"
    return rev


def environment(*, admin_url: str, load_tool: str, started_at_rev: str) -> dict[str, str]:
    """Machine and versions, as `key: value` lines for the report header."""
    rev = git_revision()
    if rev != started_at_rev:
        rev = f"{started_at_rev} when the run started, {rev} when it ended"
    wrk = _run(["wrk", "-v"]).splitlines()
    return {
        "machine": f"{os.cpu_count()} CPUs (nproc {_run(['nproc'])}), {_cpu_model()}, "
        f"{_memory()} RAM, {platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "servicetokens": f"{_version('servicetokens')} at git {rev}",
        "sqlite": sqlite3.sqlite_version,
        "postgresql": _postgres_version(admin_url),
        "stack": f"uvicorn {_version('uvicorn')}, uvloop {_version('uvloop')}, "
        f"httptools {_version('httptools')}, fastapi {_version('fastapi')}, "
        f"sqlalchemy {_version('sqlalchemy')}, psycopg {_version('psycopg')}",
        "load tool": (wrk[0] if wrk else load_tool),
        "load average at the end (1/5/15 min)": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
        "peer": f"moto {_version('moto')}",
    }


def _fmt(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def render(rows: list[Row]) -> str:
    """A Markdown table (also readable on a terminal)."""
    header = (
        "| engine | tokens | scenario | req/s | p50 ms | p99 ms | × baseline | × moto "
        "| peak RSS MB: tree / largest proc / tree PSS | errors | notes |"
    )
    lines = [header, "|" + "---|" * 11]
    for r in rows:
        ratio = "" if r.ratio is None else f"{r.ratio:.2f} ({r.baseline})"
        answered = r.rps > 0
        p50, p99 = (r.p50_ms, r.p99_ms) if answered else (None, None)
        lines.append(
            f"| {r.engine} | {r.tokens:,} | {r.scenario} | {r.rps:,.0f} | {_fmt(p50)} "
            f"| {_fmt(p99)} | {ratio} | {_fmt(r.vs_peer, 1)} "
            f"| {r.rss_mb:.0f} / {r.rss_process_mb:.0f} / {r.pss_mb:.0f} | {r.bad} | {r.note} |"
        )
    return "\n".join(lines)


def append_to_docs(
    rows: list[Row], *, env: dict[str, str], command: str, settings: str, notes: list[str]
) -> Path:
    """Append one dated run section to docs/performance.md (created if missing).

    The section goes just above the `RUNS_END` marker when the file has one, so sections
    others keep after the runs (the gate's) stay where they are.
    """
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"\n### Run of {when}\n", f"Command: `{command}`  ", f"Settings: {settings}\n"]
    parts += [f"- {key}: {value}" for key, value in env.items()]
    parts += ["", render(rows), ""]
    parts += [f"- {note}" for note in notes]
    section = "\n".join(parts) + "\n"
    text = DOCS.read_text() if DOCS.exists() else "# Performance\n"
    if RUNS_END in text:  # runs go at the end of their own section, before later sections
        text = text.replace(RUNS_END, section.lstrip("\n") + "\n" + RUNS_END, 1)
    else:
        text += section
    DOCS.write_text(text)
    return DOCS
