"""Few-demo transfer tables: the door in a held-out kitchen and the bin sort (PTR Table VII)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ptr_bringup.experiments.builders import (
    bc_sets,
    cog_sets,
    data,
    evaluate,
    learner_sets,
    train,
)
from ptr_bringup.experiments.engine import Stage
from ptr_bringup.experiments.presets import ExperimentPreset, as_dict
from ptr_bringup.experiments.table import Cell, Table


# ---- few-demo transfer: the door table and the bin sort (PTR Table VII) ----------------------
@dataclass(frozen=True)
class Scenario:
    """Prior tasks, a target task and its demonstrations: one few-demo transfer setting."""

    prior: tuple[str, ...]
    target: str
    nearest: str  # the zero-shot row acts under this prior task's id
    demos: str  # the preset field giving the number of target demos
    style: str = 'script'  # 'teleop': demos that move like a person's (ptr_sim.scripted)
    horizon: int = 40  # evaluation horizon (the task's own)
    seed_base: int = 0  # keeps this scenario's scripted data apart from the others'


DOOR = Scenario(
    prior=('OpenDrawer', 'CloseDrawer', 'PutRedCubeInBlueTray', 'PutGreenBlockInBlackBowl',
           'BinSort'),  # drawer, wood, marble and sorting kitchens; the microwave one held out
    target='OpenDoor', nearest='OpenDrawer', demos='target_demos', horizon=30)
NTNK_PRIOR, NTNK_TARGET, NTNK_NEAREST = DOOR.prior, DOOR.target, DOOR.nearest

# PTR appendix B: prior data of one object into one of the two bins, never both objects (here:
# the sorting kitchen's single-object sorts, each with the other object absent, plus the other
# kitchens' pick-and-place: 10 objects in all, as the paper's); target: the compound sort from
# five demos that look like teleoperation.
BINSORT = Scenario(
    prior=('PutBlueCubeInBlueBin', 'PutBlueCubeInOrangeBin', 'PutOrangeBlockInOrangeBin',
           'PutOrangeBlockInBlueBin', 'PutRedCubeInBlueTray', 'PutYellowCanInGreyPot',
           'PutGreenBlockInBlackBowl', 'PutPurpleCubeInRedBasket', 'PutOrangeCanInYellowTray',
           'PutWhiteCubeInGreenPan', 'PutPinkBlockInBrownBox', 'PutCyanCanOnWhitePlate'),
    target='BinSort', nearest='PutBlueCubeInBlueBin', demos='binsort_demos', style='teleop',
    horizon=80, seed_base=7_000_000)


def prior_groups(p: ExperimentPreset, tasks: tuple[str, ...], base: int) -> list[dict]:
    out = []
    for i, t in enumerate(tasks):
        out.append({'task': t, 'episodes': p.prior_clean, 'noise': 0.1,
                    'seed': base + 1000 * i, 'successes_only': True})
        out.append({'task': t, 'episodes': p.prior_noisy, 'noise': 0.4,
                    'seed': base + 1000 * i + 500, 'successes_only': False})
    return out


def demos(task: str, n: int, seed: int, style: str = 'script') -> dict[str, Any]:
    d = {'task': task, 'episodes': n, 'noise': 0.1, 'seed': seed, 'successes_only': True}
    return {**d, 'style': style} if style != 'script' else d


def ntnk_seed(p: ExperimentPreset, s: int, target: str | None = None,
              extra: tuple[str, ...] = (), camera_offset: list[float] | None = None,
              rows: tuple[str, ...] | None = None, reward_last_n: int = 3,
              scn: Scenario = DOOR) -> dict[str, Stage]:
    """Every row's evaluation stage for one seed (`extra`: learner overrides, for ablations)."""
    target = target or scn.target
    base = 100_000 * (s + 1) + scn.seed_base
    n_demos = getattr(p, scn.demos)
    prior = data(p, prior_groups(p, scn.prior, base), f'seed {s}: prior data')
    tgt = data(p, [demos(target, n_demos, base + 50_000, scn.style)],
               f'seed {s}: {target} demos', camera_offset)
    held = data(p, [demos(target, p.heldout_demos, base + 70_000, scn.style)],
                f'seed {s}: {target} held-out demos', camera_offset)
    sets = learner_sets(p, s, extra + ((f'train.reward_last_n={reward_last_n}',)
                                       if reward_last_n != 3 else ()))
    tg = ['--target', '@target', '--target-task', target]
    joint = ['--data', '@prior', *tg, '--tau', str(p.tau)]
    pre = train(p, 'pretrain', ['--data', '@prior', *sets], p.pretrain_steps, {'prior': prior},
                f'seed {s}: CQL pre-training')
    pre_bc = train(p, 'pretrain', ['--data', '@prior', *sets, *bc_sets(p), '--set',
                                   'agent.algo=bc'],
                   p.pretrain_steps, {'prior': prior}, f'seed {s}: BC pre-training', 'bc')
    ptr = train(p, 'finetune', ['--ckpt', '@pre', *joint, *train_sets(sets)],
                p.finetune_steps, {'pre': pre, 'prior': prior, 'target': tgt},
                f'seed {s}: PTR fine-tuning')
    runs: dict[str, tuple[Stage, str, str]] = {
        'PTR': (ptr, 'q', target),
        'BC (finetune)': (train(p, 'finetune', ['--ckpt', '@pre', *joint, *train_sets(sets)],
                                p.finetune_steps, {'pre': pre_bc, 'prior': prior,
                                                   'target': tgt},
                                f'seed {s}: BC fine-tuning', 'bc'), 'mse', target),
        'BC (joint)': (train(p, 'train', ['--algo', 'bc', *joint, *sets, *bc_sets(p)],
                             p.joint_steps, {'prior': prior, 'target': tgt},
                             f'seed {s}: BC joint', 'bc'), 'mse', target),
        'CQL joint (COG)': (train(p, 'train', ['--algo', 'cql', *joint, *sets, *cog_sets(p)],
                                  p.joint_steps, {'prior': prior, 'target': tgt},
                                  f'seed {s}: CQL joint'), 'q', target),
        'CQL target-only': (train(p, 'train', ['--algo', 'cql', *tg, *sets], p.single_steps,
                                  {'target': tgt}, f'seed {s}: CQL target-only'), 'q', target),
        'BC target-only': (train(p, 'train', ['--algo', 'bc', *tg, *sets, *bc_sets(p)],
                                 p.single_steps, {'target': tgt},
                                 f'seed {s}: BC target-only', 'bc'), 'mse', target),
        'CQL zero-shot': (pre, 'q', scn.nearest),
        'AW-BC (PTR Q)': (train(p, 'train', ['--algo', 'awbc', '--q-ckpt', '@ptr', *joint,
                                             *train_sets(sets)], p.single_steps,
                                {'ptr': ptr, 'prior': prior, 'target': tgt},
                                f'seed {s}: AW-BC from the PTR critic', 'awbc'),
                          'mse', target),
    }
    evals = {target: {'task': target, 'episodes': p.eval_episodes, 'seed': 200_000 + 1000 * s,
                      'camera_offset': camera_offset}}
    return {row: evaluate(p, run, held, task, sel, evals, f'seed {s}: evaluate {row}',
                          horizon=scn.horizon)
            for row, (run, sel, task) in runs.items() if rows is None or row in rows}


def train_sets(sets: list[str]) -> list[str]:
    """The training-loop overrides only: a loaded agent keeps its network (and its algo)."""
    keep = []
    for flag, value in zip(sets[::2], sets[1::2]):
        if value.startswith(('train.', 'agent.cql_alpha')):
            keep += [flag, value]
    return keep


NTNK_ROWS = ['PTR', 'BC (finetune)', 'BC (joint)', 'CQL joint (COG)', 'CQL target-only',
             'BC target-only', 'CQL zero-shot', 'AW-BC (PTR Q)']


def new_task_new_kitchen(p: ExperimentPreset) -> Table:
    cells = [Cell(row, s, stage) for s in range(p.seeds)
             for row, stage in ntnk_seed(p, s).items()]
    return Table(
        name='door-new-kitchen',
        title='A door in a held-out kitchen from 10 demos (like PTR scenario 2; not Table VII)',
        claim=('PTR (paper, scenario 2, real WidowX): pre-training on door opening in other '
               'kitchens, then fine-tuning on 10-15 demos of an unseen door, beats BC '
               '(finetune) and joint training. This is the sim analogue with clean scripted '
               'demos of a 30-step OpenDoor: a regime where 10 demos suffice for imitation, so '
               "it checks the stack end to end rather than PTR's claim (that is the "
               'binsort table). DESIGN.md s6 asks for PTR above BC (finetune), COG and '
               "target-only with significance in the paper's regime, i.e. on binsort."),
        rows=NTNK_ROWS, columns=[NTNK_TARGET], cells=cells, settings=as_dict(p),
        comparisons=[('PTR', r) for r in NTNK_ROWS if r != 'PTR'],
        notes=[f'prior tasks: {", ".join(NTNK_PRIOR)} (4 kitchens); target: {NTNK_TARGET} '
               'in the microwave kitchen, which no prior episode shows.',
               'prior data: per task, near-clean scripted successes plus noisy episodes with '
               'their failures (rewards: PTR last-3 labels); target: 10 scripted demos.',
               'zero-shot: the pre-trained policy acting under the id of the nearest prior '
               f'task ({NTNK_NEAREST}), no target data.'],
        row_notes=ROW_NOTES)


ROW_NOTES = {
    'PTR': 'multi-task CQL pre-training, then CQL fine-tuning (same networks and '
           'optimizers) on tau-mixed prior + target batches',
    'BC (finetune)': 'multi-task BC pre-training, then BC fine-tuning, same mixing',
    'BC (joint)': 'BC from scratch on prior + target, same mixing',
    'CQL joint (COG)': "CQL from scratch on prior + target, same mixing, COG's alpha, "
                       'discount, batch and BC warm-start',
    'CQL target-only': 'CQL on the target demos alone',
    'BC target-only': 'BC on the target demos alone',
    'CQL zero-shot': 'the pre-trained CQL policy under the nearest prior task id',
    'AW-BC (PTR Q)': "advantage-weighted BC on prior + target with PTR's critic frozen"}

BINSORT_ROWS = ['PTR', 'BC (finetune)', 'BC (joint)', 'CQL joint (COG)', 'BC target-only',
                'CQL target-only']
STATE_ROWS = {'PTR, image + state': 'PTR', 'BC (finetune), image + state': 'BC (finetune)'}
BINSORT_GATE = 0.30  # BC target-only must stay below this, or the regime is too easy


def binsort(p: ExperimentPreset) -> Table:
    cells = []
    for s in range(p.seeds):
        cells += [Cell(r, s, st) for r, st in ntnk_seed(p, s, scn=BINSORT,
                                                        rows=tuple(BINSORT_ROWS)).items()]
        with_state = ntnk_seed(p, s, scn=BINSORT, extra=('network.use_state=true',),
                               rows=tuple(STATE_ROWS.values()))
        cells += [Cell(name, s, with_state[row]) for name, row in STATE_ROWS.items()]
    rows = BINSORT_ROWS + list(STATE_ROWS)
    return Table(
        name='binsort', title='The compound bin sort from 5 demos (PTR Table VII)',
        claim=('PTR (paper, appendix A and Table VII, sim): a WidowX before two bins and two '
               'objects; the target task sorts both, about 80 steps, from five '
               'demonstrations; the prior data only ever puts one object into one bin. '
               'Trained to convergence, PTR succeeds 17.41 +- 1.77%, BC (joint) 7.00 +- '
               '0.00%, COG 8.00 +- 1.00%, BC (finetune) 4.88 +- 4.07%; target-only stays at '
               '0 ("unable to recover a non-zero performance"). DESIGN.md s6: PTR above BC '
               '(finetune), BC (joint), COG and target-only with significance.'),
        rows=rows, columns=[BINSORT.target], cells=cells, settings=as_dict(p),
        comparisons=[('PTR', r) for r in BINSORT_ROWS if r != 'PTR']
        + [('PTR, image + state', 'PTR'),
           ('BC (finetune), image + state', 'BC (finetune)')],
        paper={'PTR': '17.41 +- 1.77%', 'BC (joint)': '7.00 +- 0.00%',
               'CQL joint (COG)': '8.00 +- 1.00%', 'BC (finetune)': '4.88 +- 4.07%',
               'BC target-only': '0 (not tabled)', 'CQL target-only': '0 (not tabled)'},
        gate=('BC target-only', BINSORT_GATE),
        notes=[f'prior tasks ({len(BINSORT.prior)}, 10 objects): '
               f'{", ".join(BINSORT.prior)}; in the sorting kitchen each prior episode holds '
               'one of the two objects, the other is absent, so the two target objects are '
               'never seen together and no prior episode sorts both (PTR appendix B).',
               f'target: {p.binsort_demos} BinSort demos from a scripted operator that moves '
               'like a person (a per-episode speed of 0.5-1x the script, pauses of 1-4 steps, '
               "either object first): 40-75 steps, against the paper's 80.",
               'rows without "image + state" see the image and the task id only (PTR '
               'figure 2); the two state rows add the 7-d end-effector state, as the '
               "official code's policy does (DESIGN.md s4).",
               'selection never sees success: CQL rows by Q-monotonicity on held-out demos '
               'after the early phase, BC rows by held-out action error.'],
        row_notes={**{r: ROW_NOTES[r] for r in BINSORT_ROWS},
                   **{n: ROW_NOTES[r] + '; the networks also see the 7-d state'
                      for n, r in STATE_ROWS.items()}})
