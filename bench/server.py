"""The memory of servers under test (started by `bench.harness.Server`).

`RssSampler` sums VmRSS over the server's process tree (the
uvicorn supervisor and its workers) every 100 ms from /proc and keeps the peak (and the
peak PSS sum, which counts shared pages once).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

__all__ = ["RssSampler", "tree_pids", "tree_rss"]


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields resume after the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def tree_pids(root: int) -> list[int]:
    """`root` and all its descendants."""
    children = _children()
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss(root: int) -> tuple[int, int, int]:
    """(sum of VmRSS over the tree, largest single process, sum of PSS) in KiB.

    RSS counts pages shared between the supervisor and its forked/spawned workers (libraries,
    the interpreter) once per process; PSS splits each shared page between its sharers, so the
    PSS sum is what the tree really holds.
    """
    pids = tree_pids(root)
    sizes = [_rss_kib(pid) for pid in pids]
    return sum(sizes), max(sizes, default=0), sum(_pss_kib(pid) for pid in pids)


class RssSampler:
    """Peak RSS of a process tree while a `with` block runs."""

    def __init__(self, root: int, interval: float = 0.1) -> None:
        self.root = root
        self.interval = interval
        self.peak_kib = 0
        self.peak_process_kib = 0
        self.peak_pss_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        total, largest, pss = tree_rss(self.root)
        self.peak_kib = max(self.peak_kib, total)
        self.peak_process_kib = max(self.peak_process_kib, largest)
        self.peak_pss_kib = max(self.peak_pss_kib, pss)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> RssSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def peak_mb(self) -> float:
        return self.peak_kib / 1024

    @property
    def peak_process_mb(self) -> float:
        return self.peak_process_kib / 1024

    @property
    def peak_pss_mb(self) -> float:
        return self.peak_pss_kib / 1024
