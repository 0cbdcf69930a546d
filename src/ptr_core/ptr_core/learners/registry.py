"""`agent.algo` -> its learner: the one place that maps an algorithm's name to its class.

Light on purpose (no torch): the commands check their arguments against it before importing
the learners, so a bad --algo or a missing --q-ckpt is said in well under a second.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class AlgoSpec:
    """Where an algorithm's class lives and what its training needs besides data."""

    target: str  # 'module:Class'
    frozen_critic: bool = False  # trains against a CQL checkpoint's critic (ptr train --q-ckpt)


ALGOS: dict[str, AlgoSpec] = {
    'cql': AlgoSpec('ptr_core.learners.cql:CQLAgent'),
    'bc': AlgoSpec('ptr_core.learners.imitation:BCAgent'),
    'awbc': AlgoSpec('ptr_core.learners.imitation:AWBCAgent', frozen_critic=True),
}


def algo_spec(algo: str) -> AlgoSpec:
    """The spec of `algo`, or ValueError naming the known ones."""
    try:
        return ALGOS[algo]
    except KeyError:
        raise ValueError(f'agent.algo: expected one of {list(ALGOS)}, got {algo!r}') from None


def agent_class(algo: str) -> type:
    """The learner class of `algo` (imported on first use)."""
    module, name = algo_spec(algo).target.split(':')
    return getattr(importlib.import_module(module), name)
