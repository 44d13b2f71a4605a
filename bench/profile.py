"""Profile one server worker with py-spy while a scenario's load runs.

`py-spy record --native --format raw` writes collapsed stacks; `summarise` folds them into
inclusive time per function (the share of samples whose stack contains it) and self time.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

__all__ = ["py_spy", "record", "summarise"]

_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def py_spy() -> str | None:
    """The py-spy binary (`pip install -e '.[bench]'`), if installed."""
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def record(
    pid: int,
    *,
    seconds: int,
    out: Path,
    rate: int = 250,
    native: bool = True,
    nonblocking: bool = False,
) -> subprocess.Popen[bytes]:
    """Start sampling `pid` and its children (the workers) for `seconds` into `out` (raw
    collapsed stacks); wait on the result. `nonblocking` samples without pausing the process
    (less exact stacks, no skew in a throughput measurement); `native` adds C frames."""
    binary = py_spy()
    if binary is None:
        raise RuntimeError("py-spy is not installed: pip install -e '.[bench]'")
    out.parent.mkdir(parents=True, exist_ok=True)
    argv = [binary, "record", "--pid", str(pid), "--subprocesses", "--rate", str(rate)]
    argv += ["--native"] if native else []
    argv += ["--nonblocking"] if nonblocking else []
    argv += ["--duration", str(seconds), "--format", "raw", "--output", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _label(frame: str) -> str:
    found = _FRAME.match(frame)
    if not found:
        return frame
    file = found["file"]
    for marker in ("site-packages/", "/src/", "lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{found['func']} ({file})"


_PACKAGES = (
    "servicetokens",
    "sqlalchemy",
    "fastapi",
    "starlette",
    "pydantic",
    "uvicorn",
    "anyio",
    "asyncio",
    "concurrent",
    "threading",
    "psycopg",
    "sqlite3",
    "orjson",
    "json",
)


def _package(label: str) -> str | None:
    """The package of a Python frame label like `func (sqlalchemy/engine/base.py)`."""
    if not label.endswith(".py)"):
        return None
    path = label.rsplit("(", 1)[1]
    first = path.split("/", 1)[0]
    return first if first in _PACKAGES else "other Python"


_IDLE_CALLERS = (
    "Connection._recv (multiprocessing/",  # a worker waiting for the supervisor's ping
    "main (multiprocessing/resource_tracker.py)",
    "Condition.wait (threading.py)",  # idle thread-pool threads
    "_PollLikeSelector.select (selectors.py)",
    "Runner.run (asyncio/runners.py)",  # the event loop in epoll_wait
    "Thread._wait_for_tstate_lock (threading.py)",
)
_IDLE_LEAVES = ("epoll_wait", "epoll_pwait", "poll", "select", "futex", "pthread_cond")


def _idle(leaf: str, python: str | None) -> bool:
    """Whether a sample is a thread blocked in a wait (py-spy cannot always tell)."""
    if leaf == python or (python is not None and "(psycopg/" in python):
        return False  # a wait on PostgreSQL holds its thread (often the event loop) busy
    if leaf.startswith(_IDLE_LEAVES):
        return True
    return python is not None and python.startswith(_IDLE_CALLERS) and "write" not in leaf


def summarise(raw: Path, *, top: int = 25) -> str:
    """Where the busy samples went: by package of the innermost Python frame, then the hottest
    functions inclusive and self (a native leaf is shown with the Python frame calling it).

    Threads blocked in waits (the event loop in epoll, idle pool threads, a worker waiting on
    its supervisor's pipe) are counted apart: py-spy --native reports them as active.
    """
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = idle = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_label(f) for f in stack.split(";") if not f.startswith("process ")]
        if not frames:
            continue
        python = next((f for f in reversed(frames) if _package(f)), None)
        leaf = frames[-1]
        if _idle(leaf, python):
            idle += count
            continue
        total += count
        for name in set(frames):
            inclusive[name] += count
        own[leaf if leaf == python else f"{leaf} <- {python}"] += count
        package = _package(python) if python else None
        native = "" if leaf == python else " (in native code)"
        packages[f"{package or 'no Python frame'}{native}"] += count
    if not total:
        return "no samples"
    lines = [
        f"{total} busy samples over all processes of the server "
        f"({idle} more were threads blocked in waits, left out)",
        "by package of the innermost Python frame:",
    ]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in packages.most_common(top)]
    lines.append("inclusive (share of samples with the function on the stack):")
    lines += [f"  {n / total:6.1%}  {name}" for name, n in inclusive.most_common(top)]
    lines.append("self (share of samples with the function on top):")
    lines += [f"  {n / total:6.1%}  {name}" for name, n in own.most_common(top)]
    return "\n".join(lines)
