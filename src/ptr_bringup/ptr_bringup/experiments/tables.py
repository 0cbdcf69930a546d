"""The papers' tables by name: each a function from a preset to a stage graph (ptr_bringup.
experiments.table.Table); the builders live in one module per table family."""
from __future__ import annotations

from typing import Callable

from ptr_bringup.experiments.ablations import ablations
from ptr_bringup.experiments.builders import learner_sets
from ptr_bringup.experiments.online_table import online_table
from ptr_bringup.experiments.presets import ExperimentPreset
from ptr_bringup.experiments.stitching import stitching
from ptr_bringup.experiments.table import Table
from ptr_bringup.experiments.transfer import BINSORT_GATE, NTNK_ROWS, binsort, new_task_new_kitchen

TABLES: dict[str, Callable[[ExperimentPreset], Table]] = {
    'binsort': binsort,
    'door-new-kitchen': new_task_new_kitchen,
    'stitching': stitching,
    'ablations': ablations,
    'online': online_table,
}

__all__ = ['BINSORT_GATE', 'NTNK_ROWS', 'TABLES', 'learner_sets']
