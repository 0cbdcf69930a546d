"""`ptr experiment NAME`: run one of the papers' tables end to end and write its report.

Data generation, training, checkpoint selection and evaluation run as cached stages under
--store (re-running skips finished stages and resumes a killed training from its newest
checkpoint); the report goes to --results/NAME.md with its PNGs in --results/NAME/.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from ptr_bringup.experiments.engine import CODE_ENV, StageFailed, load_result, run_stages
from ptr_bringup.experiments.presets import PRESETS, PresetError, as_dict, with_overrides
from ptr_bringup.experiments.table import Cell, Table


def _parser() -> argparse.ArgumentParser:
    from ptr_bringup.experiments.tables import TABLES
    keys = '\n'.join(f'  {k} = {v}' for k, v in as_dict(PRESETS['cpu']).items())
    ap = argparse.ArgumentParser(
        prog='ptr experiment', description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n', 1)[1] + f'\npreset keys (cpu values):\n{keys}')
    ap.add_argument('name', choices=sorted(TABLES), help='the table to produce')
    ap.add_argument('--preset', choices=sorted(PRESETS), default='cpu',
                    help="cpu: this 2-core machine, < 2 h; full: the papers' scale on a GPU")
    ap.add_argument('--seeds', type=int, help="seeds (default: the preset's)")
    ap.add_argument('--jobs', type=int,
                    help="cores handed to the stages (default: the preset's)")
    ap.add_argument('--set', dest='overrides', action='append', default=[],
                    metavar='KEY=VALUE', help='override a preset field (repeatable)')
    ap.add_argument('--store', default='runs/experiments',
                    help='stage cache shared by every table (data, runs, evaluations)')
    ap.add_argument('--results', default='docs/results', help='where NAME.md and plots go')
    ap.add_argument('--report-only', action='store_true',
                    help='write the report from finished stages; run nothing')
    ap.add_argument('--rows', action='append', default=[], metavar='TEXT',
                    help="run only the rows whose name contains TEXT (case-insensitive, "
                         "repeatable); the report still shows every row, 'not run' where "
                         'no cell is cached')
    return ap


def selected_cells(table: Table, patterns: list[str]) -> list[Cell]:
    """The cells of the rows matching any pattern (all cells for none).

    Why: a table's rows cost very different amounts; a longer budget or a new method can be
    measured on the rows that need it first, and the others added later from the same cache.
    """
    if not patterns:
        return list(table.cells)
    chosen = set()
    for pat in patterns:
        hits = {r for r in table.rows if pat.lower() in r.lower()}
        if not hits:
            raise ValueError(f'--rows {pat!r}: no row of table {table.name!r} contains it '
                             f'(rows: {", ".join(table.rows)})')
        chosen |= hits
    return [c for c in table.cells if c.row in chosen]


def _commit() -> str:
    try:
        out = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True,
                             text=True, check=True, cwd=Path(__file__).parent).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'],
                               capture_output=True, text=True,
                               cwd=Path(__file__).parent).stdout.strip()
        return out + ('+changes' if dirty else '')
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    return f'{os.cpu_count()} CPU cores ({cpu})'


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from ptr_bringup.experiments import report
    from ptr_bringup.experiments.tables import TABLES
    try:
        extra = list(args.overrides)
        extra += [f'seeds={args.seeds}'] if args.seeds is not None else []
        extra += [f'jobs={args.jobs}'] if args.jobs is not None else []
        preset = with_overrides(PRESETS[args.preset], extra)
    except PresetError as e:
        print(f'ptr experiment: {e}', file=sys.stderr)
        return 2
    table = TABLES[args.name](preset)
    try:
        run_cells = selected_cells(table, args.rows)
    except ValueError as e:
        print(f'ptr experiment: {e}', file=sys.stderr)
        return 2
    store = Path(args.store)
    t0 = time.monotonic()
    commit = _commit()
    os.environ[CODE_ENV] = commit  # each stage records the code it ran
    cell_keys = {c.stage.key for c in table.cells}
    failed = ''
    if not args.report_only:
        say = lambda m: print(f'[experiment {args.name}] {m}', flush=True)  # noqa: E731
        run_keys = {c.stage.key for c in run_cells}
        todo = [c.stage for c in run_cells] if args.rows else table.stages()
        try:
            run_stages(todo, store, preset.jobs, 1, say, count=lambda s: s.key in run_keys)
        except StageFailed as e:
            failed = str(e)
    from ptr_bringup.experiments.engine import all_stages
    stages = all_stages(table.stages())
    results = {s.key: r for s in stages if (r := load_result(store, s)) is not None}
    out_dir = Path(args.results)
    plots = _plots(table, results, out_dir, args.name)
    command = 'ptr experiment ' + shlex.join(relative_argv(argv if argv is not None else
                                                       sys.argv[1:]))
    ran = sorted({r.get('code', 'unknown') for k, r in results.items() if k in cell_keys})
    run = None if args.report_only else {
        'command': command, 'commit': commit,
        'date': datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
        'wall_min': round((time.monotonic() - t0) / 60, 1), 'machine': _machine()}
    meta = {'runs': _runs(out_dir / args.name / 'runs.json', run), 'rendered_at': commit,
            'ran_at': ran,
            'compute_min': sum(r.get('wall_s', 0.0) for r in results.values()) / 60}
    from ptr_core.atomic import write_bytes
    text = report.render(table, results, meta, plots)
    if failed:
        text += f'\n**Incomplete: a stage failed.** {failed}\n'
    write_bytes(out_dir / f'{args.name}.md', text.encode())
    done = sum(c.stage.key in results for c in table.cells)
    print(f'ptr experiment: wrote {out_dir / (args.name + ".md")} ({done}/{len(table.cells)} '
          f'cells)')
    if failed:
        print(f'ptr experiment: {failed}', file=sys.stderr)
        return 1
    return 0


def _plots(table, results: dict, out_dir: Path, name: str) -> dict[str, str]:
    from ptr_bringup.experiments import plots
    out: dict[str, str] = {}
    if not any(c.stage.key in results for c in table.cells):
        return out
    d = out_dir / name
    out['success per method'] = str(
        plots.plot_success(table, results, d / 'success.png').relative_to(out_dir))
    if (sel := plots.plot_selection(table, results, d / 'selection.png')):
        out['held-out selection score per checkpoint'] = str(sel.relative_to(out_dir))
    if (cur := plots.plot_curves(table, results, d / 'curves.png')):
        out['success of every checkpoint against gradient steps'] = str(
            cur.relative_to(out_dir))
    if (onl := plots.plot_online(table, results, d / 'online.png')):
        out['success against online environment steps'] = str(onl.relative_to(out_dir))
    return out


def relative_argv(argv: list[str]) -> list[str]:
    """Absolute paths inside the repository as repository-relative ones: a results page must not
    name the machine it ran on."""
    from ptr_bringup.rosenv import WORKSPACE
    out = []
    for a in argv:
        p = Path(a)
        out.append(str(p.relative_to(WORKSPACE)) if p.is_absolute() and p.is_relative_to(
            WORKSPACE) else a)
    return out


def _runs(path: Path, run: dict | None) -> list[dict]:
    """Every real run of a table, kept in NAME/runs.json (command, commit, date, wall), so a
    report re-rendered later (--report-only) still says how its cells were produced."""
    from ptr_core.atomic import write_json
    runs = json.loads(path.read_text()) if path.is_file() else []
    if run is not None:
        runs.append(run)
        write_json(path, runs)
    return runs
