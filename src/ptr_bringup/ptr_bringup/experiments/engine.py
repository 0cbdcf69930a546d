"""Stages cached by the hash of what they compute, run by a small process-pool scheduler.

Why a stage graph: a table's cells share most of their work (one pre-training feeds PTR, the
zero-shot row and AW-BC; the same data feeds every method), and a two-hour run must survive being
killed. A stage's key hashes its kind, its parameters and its dependencies' keys, so identical
work is done once across cells and tables, a changed setting re-runs exactly what depends on it,
and a finished stage (its `result.json`, written atomically last) is never redone. A killed
training stage resumes from its newest checkpoint (the stage functions handle that).

Cores: `jobs` is the number of cores the scheduler hands out. A stage holds one while it runs;
a stage that can spread its work (`max_cores` > 1: evaluation over worker processes) also takes
the cores no other ready stage needs when it starts, and reads its share with `stage_cores()`.
So the tail of a table, where one evaluation is left, still uses every core, and no core ever
runs two stages' work.
"""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import multiprocessing as mp
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

# Bumped when a stage function's meaning changes, so old cached results are not reused.
STAGE_VERSION = 1
CODE_ENV = 'PTR_EXPERIMENT_CODE'  # set by the caller: the code version stages record
CORES_ENV = 'PTR_STAGE_CORES'  # set in a stage's process: the cores it was given


def stage_cores() -> int:
    """Cores the scheduler gave the running stage (1 outside a scheduled stage)."""
    try:
        return max(1, int(os.environ.get(CORES_ENV, '1')))
    except ValueError:
        return 1


@dataclass(eq=False)
class Stage:
    """One unit of cached work: `kind` names a function in ptr_bringup.experiments.stages
    (or is 'module:function')."""

    kind: str
    params: dict[str, Any]
    deps: dict[str, 'Stage'] = field(default_factory=dict)
    label: str = ''  # for progress lines: what this is in the table's words
    cost: float = 60.0  # estimated seconds on one core, for the time-left estimate
    max_cores: int = 1  # > 1: the stage can spread over that many cores (see stage_cores)

    @property
    def key(self) -> str:
        blob = json.dumps({'kind': self.kind, 'params': self.params, 'v': STAGE_VERSION,
                           'deps': {k: d.key for k, d in sorted(self.deps.items())}},
                          sort_keys=True, default=str)
        return f'{self.kind}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}'


def all_stages(roots: list[Stage]) -> list[Stage]:
    """Every stage reachable from `roots`, dependencies first, each key once."""
    seen: dict[str, Stage] = {}

    def visit(s: Stage) -> None:
        if s.key in seen:
            return
        for d in s.deps.values():
            visit(d)
        seen[s.key] = s

    for r in roots:
        visit(r)
    return list(seen.values())


class StageFailed(RuntimeError):
    """A stage raised; the message names it and ends with its log's last lines."""


def result_path(store: Path, stage: Stage) -> Path:
    return store / stage.key / 'result.json'


def load_result(store: Path, stage: Stage) -> dict[str, Any] | None:
    p = result_path(store, stage)
    return json.loads(p.read_text()) if p.is_file() else None


def _run_one(kind: str, work: str, params: dict[str, Any], deps: dict[str, dict[str, Any]],
             threads: int, cores: int = 1) -> dict[str, Any]:
    """Worker body (a fresh process per stage): run it, its output into work/log.txt."""
    import torch

    from ptr_bringup.experiments import stages
    from ptr_core.atomic import write_json

    torch.set_num_threads(threads)
    os.environ[CORES_ENV] = str(cores)
    w = Path(work)
    w.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    # The process is this stage's alone: point its file descriptors 1 and 2 at the log too, so
    # C-level output (PyBullet's banner) does not interleave with the progress lines.
    log = open(w / 'log.txt', 'a', buffering=1)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log
    if ':' in kind:  # 'module:function', for stage kinds defined outside this package
        import importlib
        mod, fn = kind.split(':')
        body = getattr(importlib.import_module(mod), fn)
    else:
        body = stages.STAGES[kind]
    try:
        result = body(w, params, deps)
    except BaseException:
        traceback.print_exc(file=log)
        raise
    result['wall_s'] = round(time.monotonic() - t0, 1)
    result['code'] = os.environ.get(CODE_ENV, 'unknown')  # the commit this stage ran
    write_json(w / 'result.json', result)
    return result


def _log_tail(work: Path, lines: int = 8) -> str:
    p = work / 'log.txt'
    if not p.is_file():
        return ''
    tail = p.read_text(errors='replace').splitlines()[-lines:]
    return '\n    '.join([''] + tail)


def run_stages(roots: list[Stage], store: Path, jobs: int = 1, threads: int = 1,
               say: Callable[[str], None] = print, count: Callable[[Stage], bool] | None = None
               ) -> dict[str, dict[str, Any]]:
    """Run every stage under `roots` not finished in `store`; results by key.

    `jobs` cores are handed out (see the module docstring); each stage runs in its own process
    with `threads` torch threads. A failed
    stage stops its dependents, the others go on; StageFailed is raised at the end. `count`
    picks the stages whose completions the progress line reports as cells.
    """
    run = _Run(all_stages(roots), store, jobs, say, count or (lambda s: False))
    ctx = mp.get_context('spawn')
    with cf.ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=ctx,
                                max_tasks_per_child=1) as pool:
        while run.pending or run.running:
            for s, cores in run.ready():
                deps = {name: {'dir': str(store / d.key), **run.results[d.key]}
                        for name, d in s.deps.items()}
                fut = pool.submit(_run_one, s.kind, str(store / s.key), s.params, deps,
                                  threads, cores)
                run.running[fut] = (s, time.monotonic(), cores)
            if not run.running:
                break
            done, _ = cf.wait(list(run.running), return_when=cf.FIRST_COMPLETED)
            for fut in done:
                run.finished(fut)
    if run.failed:
        raise StageFailed('; '.join(v for v in run.failed.values()
                                    if v != 'a dependency failed'))
    return run.results


class _Run:
    """The scheduler's book-keeping: what is done, waiting, running or failed; progress lines."""

    def __init__(self, todo: list[Stage], store: Path, jobs: int, say: Callable[[str], None],
                 is_cell: Callable[[Stage], bool]) -> None:
        self.store, self.jobs, self.say, self.is_cell = store, jobs, say, is_cell
        self.results = {s.key: r for s in todo if (r := load_result(store, s)) is not None}
        self.pending = [s for s in todo if s.key not in self.results]
        self.running: dict[cf.Future, tuple[Stage, float, int]] = {}  # stage, start, cores
        self.failed: dict[str, str] = {}
        self.cells_total = sum(is_cell(s) for s in todo)
        self.cells_done = sum(is_cell(s) for s in todo if s.key in self.results)
        self.t0 = time.monotonic()
        self.spent_est = self.spent_real = 0.0
        cost_left = sum(s.cost for s in self.pending)
        say(f'{len(todo)} stages, {len(todo) - len(self.pending)} cached; cells '
            f'{self.cells_done}/{self.cells_total}; ~{cost_left / 60 / max(1, jobs):.0f} min '
            'estimated')

    def ready(self) -> list[tuple[Stage, int]]:
        """Stages to start now with their cores (dependencies done, a free core); dependents of
        failures drop."""
        for s in [s for s in self.pending if any(d.key in self.failed for d in s.deps.values())]:
            self.pending.remove(s)
            self.failed[s.key] = 'a dependency failed'
        free = self.jobs - sum(c for _, _, c in self.running.values())
        ready = [s for s in self.pending
                 if all(d.key in self.results for d in s.deps.values())][:max(0, free)]
        cores = {s.key: 1 for s in ready}
        spare = free - len(ready)
        for s in ready:  # cores no ready stage needs go to those that can spread
            extra = min(spare, s.max_cores - 1)
            cores[s.key] += extra
            spare -= extra
        for s in ready:
            self.pending.remove(s)
        return [(s, cores[s.key]) for s in ready]

    def finished(self, fut: cf.Future) -> None:
        s, started, _ = self.running.pop(fut)
        try:
            self.results[s.key] = fut.result()
        except Exception as e:  # noqa: BLE001 - reported with the stage's log
            self.failed[s.key] = (f'{s.label or s.kind} ({s.key}): {type(e).__name__}: {e}'
                                  f'{_log_tail(self.store / s.key)}')
            self.say(f'FAILED {self.failed[s.key]}')
            return
        self.spent_est += s.cost
        self.spent_real += time.monotonic() - started
        self.cells_done += self.is_cell(s)
        left = sum(x.cost for x in self.pending) + sum(x.cost for x, _, _ in self.running.values())
        eta = left * (self.spent_real / self.spent_est) / max(1, self.jobs)
        self.say(f'done {s.label or s.kind} in {time.monotonic() - started:.0f} s; cells '
                 f'{self.cells_done}/{self.cells_total}; elapsed '
                 f'{(time.monotonic() - self.t0) / 60:.1f} min, ~{eta / 60:.0f} min left')
