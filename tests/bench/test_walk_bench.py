"""bench/walk.py end to end on a tiny database: a whole walk, its reference and its jumps."""

from __future__ import annotations

import pytest
from bench.walk import HEADER, main


def test_a_small_walk_is_measured_and_tabled(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["--tokens", "450", "--per-page", "50", "--engine", "sqlite", "--workers", "1"]) == 0
    )
    out = capsys.readouterr().out
    assert HEADER in out
    row = out.strip().splitlines()[-1]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[:3] == ["sqlite", "450", "9"]  # every page walked, each token once (checked)
    assert float(cells[3]) >= 0  # seconds, one decimal: a tiny walk may round to 0.0
    assert "×)" in cells[5]  # the page p50, with its multiple of page 1
    assert "page 9:" in cells[-1]  # the last page, jumped to cold
