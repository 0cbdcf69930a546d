"""The tables as stage graphs, the preset overrides and the report's numbers."""
import re

import pytest

from ptr_bringup.experiments import plots, report
from ptr_bringup.experiments.engine import all_stages
from ptr_bringup.experiments.presets import PRESETS, PresetError, with_overrides
from ptr_bringup.experiments.tables import NTNK_ROWS, TABLES
from ptr_core.stats import fisher_two_sided
from ptr_sim.evaluate import wilson_interval

CPU = PRESETS['cpu']


def test_preset_overrides_are_typed_and_named_in_errors():
    p = with_overrides(CPU, ['seeds=5', 'tau=1', 'network=network.a=1;network.b=2'])
    assert (p.seeds, p.tau, p.network) == (5, 1.0, ('network.a=1', 'network.b=2'))
    assert CPU.seeds == 3  # the preset itself is untouched
    with pytest.raises(PresetError, match='KEY one of: seeds, jobs'):
        with_overrides(CPU, ['seed=4'])
    with pytest.raises(PresetError, match="seeds: expected int, got 'many'"):
        with_overrides(CPU, ['seeds=many'])
    with pytest.raises(PresetError, match='expected >= 1'):
        with_overrides(CPU, ['eval_episodes=0'])


def test_every_table_builds_with_one_cell_per_row_and_seed_and_unique_keys():
    for name, build in TABLES.items():
        t = build(CPU)
        assert t.name == name
        assert sorted((c.row, c.seed) for c in t.cells) == sorted(
            (r, s) for r in t.rows for s in range(CPU.seeds)), name
        assert len({c.stage.key for c in t.cells}) == len(t.cells), name
        for a, b in t.comparisons:
            assert a in t.rows and b in t.rows


def test_new_task_new_kitchen_is_paired_held_out_and_excludes_the_target_kitchen():
    from ptr_sim.tasks import get_task
    t = TABLES['door-new-kitchen'](CPU)
    assert t.rows == NTNK_ROWS and len(t.rows) == 8
    assert CPU.seeds >= 3 and CPU.eval_episodes >= 50  # the minimum per cell
    target_kitchen = get_task('OpenDoor').kitchen
    for s in range(CPU.seeds):
        cells = [c for c in t.cells if c.seed == s]
        evals = {repr(c.stage.params['evals']) for c in cells}
        assert len(evals) == 1  # every row of a seed on the same starts
        for c in cells:
            for st in all_stages([c.stage]):
                if st.kind == 'collect' and 'prior data' in st.label:
                    kitchens = {get_task(g['task']).kitchen for g in st.params['groups']}
                    assert target_kitchen not in kitchens and len(kitchens) >= 3
            heldout = c.stage.deps['heldout'].params['groups'][0]
            target = [d for d in all_stages([c.stage]) if 'OpenDoor demos' in d.label]
            if target:  # the held-out demos are other episodes than the training demos
                assert heldout['seed'] != target[0].params['groups'][0]['seed']
    seeds_of = {c.seed: c.stage.params['evals']['OpenDoor']['seed'] for c in t.cells}
    assert len(set(seeds_of.values())) == CPU.seeds  # seeds differ in their starts


def test_ablations_reuse_the_ptr_runs_and_change_one_setting_each():
    ntnk = {c.stage.key for c in TABLES['door-new-kitchen'](CPU).cells if c.row == 'PTR'}
    ab = TABLES['ablations'](CPU)
    base = [c for c in ab.cells if c.row == ab.rows[0]]
    assert {c.stage.key for c in base} == ntnk
    pre = {s.key for c in base for s in all_stages([c.stage])
           if s.label.endswith('CQL pre-training')}
    for c in ab.cells:
        stages = all_stages([c.stage])
        if c.row in ('PTR, novel viewpoint', 'BC (finetune), novel viewpoint'):
            offsets = {s.params.get('camera_offset') is not None for s in stages
                       if s.kind == 'collect' and 'OpenDoor' in s.label}
            assert offsets == {True}
            assert c.stage.params['evals']['OpenDoor']['camera_offset'] is not None
        elif c.row != ab.rows[0]:
            assert not {s.key for s in stages} & pre  # its own pre-training


def test_stitching_prior_data_has_no_reward_path_and_shares_the_task_id():
    t = TABLES['stitching'](CPU)
    cog = next(c for c in t.cells if c.row == 'COG' and c.seed == 0).stage
    run = cog.deps['run']
    argv = run.params['argv']
    assert argv[argv.index('--prior-reward') + 1] == 'zero'
    prior = run.deps['prior'].params['groups']
    assert {g['skills'] for g in prior} == {'prefix'}
    assert {g['folder'] for g in prior} == {'GraspFromOpenDrawer'}
    assert set(cog.params['evals']) == {'drawer open', 'drawer closed', 'drawer blocked'}


def _fake_results(table, rates):
    """Results as the evaluate stage writes them: successes per (row, seed) from `rates`."""
    out = {}
    for c in table.cells:
        k = rates[c.row][c.seed]
        out[c.stage.key] = {'evals': {col: {'successes': k, 'episodes': 50}
                                      for col in table.columns},
                            'scores': [[100, 0.1 * c.seed], [200, 0.2]], 'selected_step': 200}
    return out


def test_report_pools_seeds_with_wilson_intervals_and_tests_differences(tmp_path):
    t = TABLES['door-new-kitchen'](CPU)
    rates = {r: [2, 3, 4] for r in t.rows}
    rates['PTR'] = [20, 25, 30]
    rates['BC (finetune)'] = [30, 25, 20]  # the same pooled rate as PTR
    res = _fake_results(t, rates)
    meta = {'runs': [{'command': 'ptr experiment x', 'commit': 'abc', 'date': 'd',
                      'wall_min': 1.0, 'machine': 'm'}],
            'rendered_at': 'abc', 'ran_at': ['abc'], 'compute_min': 2.0}
    text = report.render(t, res, meta, {})
    assert '- `ptr experiment x` at commit `abc`, d, 1.0 min wall, m' in text
    lo, hi = wilson_interval(75, 150)
    assert f'| PTR | 50.0% (75/150) [{100 * lo:.1f}, {100 * hi:.1f}] | 40%, 50%, 60% |' in text
    p = fisher_two_sided(75, 150, 9, 150)
    row = next(line for line in text.splitlines() if line.startswith('| PTR vs BC (joint)'))
    assert f'| {p:.3g} |' in row and 'yes: PTR higher (both tests)' in row
    # 7 comparisons: Holm multiplies the smallest p by 7 (all equal here -> all x7, capped).
    assert f'| {min(1.0, 7 * p):.3g} |' in row
    # Equal methods are not called different.
    same = next(line for line in text.splitlines() if line.startswith('| PTR vs BC (finetune)'))
    assert re.search(r'\| 1 \| 1 \| \+0.0 \[.*\] pts \| no \|$', same), same
    assert plots.plot_success(t, res, tmp_path / 's.png').stat().st_size > 5000
    assert plots.plot_selection(t, res, tmp_path / 'q.png').stat().st_size > 5000


def test_report_says_not_run_for_missing_cells():
    t = TABLES['stitching'](CPU)
    text = report.render(t, {}, {'runs': [], 'rendered_at': 'x', 'ran_at': [],
                                 'compute_min': 0.0}, {})
    assert text.count('not run') == len(t.rows) * len(t.columns)
    assert 'Which differences' not in text


def test_report_shows_selected_against_last_checkpoint_and_tests_both(tmp_path):
    t = TABLES['door-new-kitchen'](CPU)
    res = _fake_results(t, {r: [5, 5, 5] for r in t.rows})
    for c in t.cells:  # the last checkpoints: PTR much better than selected
        k = 40 if c.row == 'PTR' else 5
        res[c.stage.key]['evals_last'] = {'OpenDoor': {'successes': k, 'episodes': 50}}
    meta = {'runs': [], 'rendered_at': 'x', 'ran_at': ['x'], 'compute_min': 0.0}
    text = report.render(t, res, meta, {})
    assert '| PTR | OpenDoor | 10.0% (15/150) [' in text and '| 80.0% (120/150) [' in text
    assert '| PTR | OpenDoor | 10.0% (15/150)' in text and '| 200, 200, 200 |' in text
    sel, last = text.split('## Which differences are significant (last checkpoints)')
    assert 'PTR vs BC (joint) | OpenDoor | 15/150 vs 15/150 | 1 |' in sel
    assert 'PTR vs BC (joint) | OpenDoor | 120/150 vs 15/150 |' in last
    assert 'yes: PTR higher (both tests)' in last


def test_online_curves_plot_success_against_environment_steps(tmp_path):
    t = TABLES['online'](CPU)
    res = {}
    for c in t.cells:
        r = {'evals': {'OpenDoor': {'successes': 10, 'episodes': 50}}}
        if c.row != 'PTR offline (start)':
            r['curve'] = [[0, 0, 10, 50], [100, 250, 12, 50], [200, 500, 15, 50]]
        res[c.stage.key] = r
    assert plots.plot_online(t, res, tmp_path / 'o.png').stat().st_size > 5000
    assert plots.plot_online(t, {}, tmp_path / 'none.png') is None


def test_one_seed_gets_no_seed_bootstrap_and_only_the_exact_test_decides():
    t = TABLES['ablations'](with_overrides(CPU, ['seeds=1']))
    res = _fake_results(t, {r: [25] for r in t.rows})
    res[next(c for c in t.cells if c.row == 'spatial softmax').stage.key]['evals'] = {
        'OpenDoor': {'successes': 20, 'episodes': 50}}
    meta = {'runs': [], 'rendered_at': 'x', 'ran_at': ['x'], 'compute_min': 0.0}
    row = next(line for line in report.render(t, res, meta, {}).splitlines()
               if line.startswith('| PTR (base) vs spatial softmax'))
    assert '+10.0 [no bootstrap: 1 seed] pts | no |' in row  # p = 0.42: not significant


def test_online_page_counts_the_reward_against_the_sim_by_hand():
    t = TABLES['online'](with_overrides(CPU, ['seeds=2']))
    res = {}
    for c in t.cells:
        r = {'evals': {'OpenDoor': {'successes': 10, 'episodes': 50}}}
        # per seed: 30 episodes, 12 said, 9 of them real, 10 real
        if c.row == 'PTR + Cal-QL online':
            r |= {'episodes': 30, 'online_successes_classifier': 12,
                  'online_successes_both': 9, 'online_successes_sim': 10}
        res[c.stage.key] = r
    text = report.render(t, res, {'runs': [], 'rendered_at': 'x', 'ran_at': ['x'],
                                  'compute_min': 0.0}, {})
    line = next(x for x in text.splitlines() if x.startswith('| PTR + Cal-QL online | 60 |'))
    # pooled: 18 of 24 classifier successes real (75%), 18 of 20 real ones found (90%)
    assert '| 24 | 18 | 75.0% (18/24)' in line and '18/20 (90%)' in line, line
    assert '| RLPD-style' not in text.split('online reward against the sim')[1].split('##')[0]


def test_online_page_splits_success_by_start_kind_by_hand():
    """Mixed starts: the page pools each row's demo-start and out-of-distribution episodes over
    seeds (2 seeds: 9/25 + 12/25 demo, 3/25 + 4/25 ood for the start row)."""
    t = TABLES['online'](with_overrides(CPU, ['seeds=2']))
    assert all(c.stage.params.get('starts') == 'mixed' or
               c.stage.params['evals']['OpenDoor']['starts'] == 'mixed' for c in t.cells)
    res = {}
    for c in t.cells:
        kd = 9 + 3 * c.seed
        ko = 3 + c.seed
        res[c.stage.key] = {'evals': {'OpenDoor': {
            'successes': kd + ko, 'episodes': 50, 'demo_successes': kd, 'demo_episodes': 25,
            'ood_successes': ko, 'ood_episodes': 25}}}
    text = report.render(t, res, {'runs': [], 'rendered_at': 'x', 'ran_at': ['x'],
                                  'compute_min': 0.0}, {})
    section = text.split('## Starts inside and outside the demos')[1].split('\n## ')[0]
    line = next(x for x in section.splitlines() if x.startswith('| PTR offline (start) |'))
    assert '| 42.0% (21/50)' in line and '| 14.0% (7/50)' in line, line


def test_online_residual_bound_reaches_only_the_residual_rows_trainer():
    """--set online_residual_bound changes the residual row's trainer settings and key, and
    nothing else; at OnlineConfig's default the row keeps the key it had before the field."""
    def trainers(overrides):
        t = TABLES['online'](with_overrides(CPU, ['seeds=1', *overrides]))
        return {c.row: (c.stage.key, c.stage.params['budget_changes']['trainer'])
                for c in t.cells if c.stage.kind == 'online'}
    base, wide = trainers([]), trainers(['online_residual_bound=0.4'])
    assert 'residual_bound' not in base['PTR + residual online'][1]
    assert wide['PTR + residual online'][1]['residual_bound'] == 0.4
    assert wide['PTR + residual online'][0] != base['PTR + residual online'][0]
    for row in ('PTR + Cal-QL online', 'RLPD-style from demos'):
        assert wide[row] == base[row]
    for bad in ('0.0', '2.5'):
        with pytest.raises(PresetError, match=re.escape(
                f'online_residual_bound: residual bound: expected in (0, 2], got {bad}')):
            with_overrides(CPU, [f'online_residual_bound={bad}'])


def test_every_online_row_names_the_mode_it_measures():
    """A row that inherited OnlineConfig's default mode would change what it measures, under the
    same cache key, whenever the default changes; each row's mode is its own."""
    t = TABLES['online'](with_overrides(CPU, ['seeds=2']))
    modes = {(c.row, c.stage.params['budget_changes']['trainer'].get('mode'))
             for c in t.cells if c.stage.kind == 'online'}
    assert modes == {('PTR + Cal-QL online', 'calql'), ('PTR + residual online', 'residual'),
                     ('RLPD-style from demos', 'calql')}


def test_an_online_stage_keeps_only_the_checkpoints_it_evaluated(tmp_path):
    """Every published version is saved (26 MB each); after the curve is evaluated only the
    evaluated checkpoints stay, the newest among them."""
    from ptr_bringup.experiments.stages import prune_unevaluated
    from ptr_core.select import step_of
    ckpts = []
    for u in range(20, 220, 20):
        c = tmp_path / f'online_{u:07d}.pt'
        c.write_bytes(b'x')
        ckpts.append(c)
    picks = [ckpts[0], ckpts[4], ckpts[-1]]
    assert prune_unevaluated(ckpts, picks) == 7
    left = sorted(tmp_path.glob('online_*.pt'), key=step_of)
    assert left == picks and step_of(left[-1]) == 200
    assert prune_unevaluated(left, left) == 0 and len(list(tmp_path.iterdir())) == 3
