"""COG's stitching table: prior behaviours without rewards plus task data (COG Table 1)."""
from __future__ import annotations

from ptr_bringup.experiments.builders import data, evaluate, learner_sets, train
from ptr_bringup.experiments.engine import Stage
from ptr_bringup.experiments.presets import ExperimentPreset, as_dict
from ptr_bringup.experiments.table import Cell, Table
from ptr_bringup.experiments.transfer import demos

# ---- stitching (COG Table 1) ------------------------------------------------------------------
STITCH_TASK = 'GraspFromOpenDrawer'  # the rewarded task; every dataset is stored under its id
STITCH_SETTINGS = {'drawer open': ('GraspFromOpenDrawer', 30),
                   'drawer closed': ('GraspFromClosedDrawer', 50),
                   'drawer blocked': ('GraspFromBlockedDrawer', 80)}  # env task, horizon


def stitching_seed(p: ExperimentPreset, s: int) -> dict[str, Stage]:
    base = 100_000 * (s + 1) + 5_000_000
    folder = {'folder': STITCH_TASK}
    prior = data(p, [{'task': 'GraspFromClosedDrawer', 'episodes': p.stitch_prior, 'noise': 0.2,
                      'seed': base, 'skills': 'prefix', **folder},
                     {'task': 'GraspFromBlockedDrawer', 'episodes': p.stitch_prior,
                      'noise': 0.2, 'seed': base + 10_000, 'skills': 'prefix', **folder}],
                 f'seed {s}: prior behaviours (open; unblock and open), no rewards')
    task = data(p, [{**demos(STITCH_TASK, p.stitch_task, base + 20_000), 'noise': 0.2}],
                f'seed {s}: grasp-from-open-drawer task data')
    oracle = data(p, [{**demos(t, p.stitch_task, base + 30_000 + 1000 * i), **folder}
                      for i, (t, _) in enumerate(STITCH_SETTINGS.values())],
                  f'seed {s}: oracle demos of all three settings')
    held = data(p, [{**demos(t, 2, base + 40_000 + 1000 * i), **folder}
                    for i, (t, _) in enumerate(STITCH_SETTINGS.values())],
                f'seed {s}: held-out full demos (selection only)')
    sets = learner_sets(p, s, ('agent.cql_alpha=1.0',))  # COG: alpha 1 with 0/1 rewards
    tg = ['--target', '@task', '--target-task', STITCH_TASK, '--target-reward', 'recorded']
    joint = ['--data', '@prior', '--prior-reward', 'zero', *tg, '--tau', '0.5']
    runs = {
        'COG': (train(p, 'train', ['--algo', 'cql', *joint, *sets], p.stitch_steps,
                      {'prior': prior, 'task': task}, f'seed {s}: COG (CQL, prior + task)'), 'q'),
        'BC': (train(p, 'train', ['--algo', 'bc', *joint, *sets], p.stitch_steps,
                     {'prior': prior, 'task': task}, f'seed {s}: BC (prior + task)', 'bc'),
               'mse'),
        'BC-oracle': (train(p, 'train', ['--algo', 'bc', '--target', '@oracle', '--target-task',
                                         STITCH_TASK, *sets], p.stitch_steps,
                            {'oracle': oracle}, f'seed {s}: BC-oracle', 'bc'), 'mse'),
        'CQL no-prior': (train(p, 'train', ['--algo', 'cql', *tg, *sets], p.single_steps,
                               {'task': task}, f'seed {s}: CQL task data only'), 'q'),
    }
    evals = {col: {'task': t, 'episodes': p.stitch_episodes, 'seed': 300_000 + 1000 * s + i}
             for i, (col, (t, _)) in enumerate(STITCH_SETTINGS.items())}
    return {row: evaluate(p, run, held, STITCH_TASK, sel, evals, f'seed {s}: evaluate {row}',
                          horizon=50)
            for row, (run, sel) in runs.items()}


def stitching(p: ExperimentPreset) -> Table:
    cells = [Cell(row, s, st) for s in range(p.seeds) for row, st in stitching_seed(p, s).items()]
    rows = ['COG', 'BC', 'BC-oracle', 'CQL no-prior']
    return Table(
        name='stitching', title='Stitching prior behaviours without rewards (COG Table 1)',
        claim=('COG (paper, Table 1, sim, grasping from a drawer; 3 seeds x 250 trials): '
               'prior data of opening the drawer and moving obstructions, without rewards, plus '
               'task data of grasping from an open drawer; trained jointly with CQL the policy '
               'succeeds 0.98 from the open drawer and 0.68 / 0.78 / 0.76 from the closed / two '
               'blocked drawers; the BC variants (on all data, and the oracle on hand-picked '
               'successes) reach 0.22-0.35 from those, CQL without prior data 0.00 (0.98 '
               'from the open drawer). The point: CQL stitches skills the data never shows in '
               'sequence; imitation does much less.'),
        rows=rows, columns=list(STITCH_SETTINGS), cells=cells, settings=as_dict(p),
        comparisons=[('COG', r) for r in rows if r != 'COG'],
        notes=['prior: scripted episodes that stop once the drawer is open (from the closed '
               'drawer; from the blocked one after moving the blocker to the side tray), '
               'noise 0.2, reward 0 and no terminals (`--prior-reward zero`); task: grasps '
               'from the open drawer with the recorded sparse reward; batches half prior, '
               'half task; CQL alpha 1 (COG).',
               'all data are stored under the task id of GraspFromOpenDrawer, as in COG one '
               'Q-function covers prior and task; the policy acts under that id in all three '
               'settings.',
               'selection: held-out full demos (2 per setting) scored by Q-monotonicity (CQL '
               'rows) or action error (BC rows); no row sees success during selection.'],
        row_notes={'COG': 'CQL on prior (reward 0) + task data (sparse reward)',
                   'BC': 'BC on the same prior + task data',
                   'BC-oracle': 'BC on full successful demos of all three settings',
                   'CQL no-prior': 'CQL on the task data alone'})
