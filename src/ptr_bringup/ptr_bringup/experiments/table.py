"""What a results table is: rows (methods) x columns (evaluation settings) x seeds of stages."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ptr_bringup.experiments.engine import Stage


@dataclass
class Cell:
    """One (row, seed) evaluation stage; its result holds one count per column."""

    row: str
    seed: int
    stage: Stage


@dataclass
class Table:
    """A results table: its rows, columns, cells (stages), claim, notes and tests."""

    name: str
    title: str
    claim: str  # what the paper reports, in one paragraph (the report's reference point)
    rows: list[str]
    columns: list[str]
    cells: list[Cell]
    settings: dict[str, Any]  # the preset, as run
    # (row a, row b, why): differences tested for significance, a first.
    comparisons: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how this sim setting differs from the paper
    row_notes: dict[str, str] = field(default_factory=dict)  # what each method is, exactly
    curves: dict[str, list[Stage]] = field(default_factory=dict)  # extra plots' stages
    selection: str = 'Checkpoints chosen on held-out demos, never on success.'
    paper: dict[str, str] = field(default_factory=dict)  # row -> the paper's figure
    # (row, bound): the regime is only informative if this row's pooled rate stays below bound.
    gate: tuple[str, float] | None = None

    def stages(self) -> list[Stage]:
        return [c.stage for c in self.cells] + [s for v in self.curves.values() for s in v]
