"""The papers' settings as presets, the bin-sort table (PTR Table VII) and selection quality."""
import pytest

from ptr_bringup.experiments import plots, report
from ptr_bringup.experiments.engine import all_stages
from ptr_bringup.experiments.presets import (
    CPU_DEPARTURES,
    PAPER,
    PRESETS,
    departures,
    with_overrides,
)
from ptr_bringup.experiments.stages import selectable
from ptr_bringup.experiments.tables import BINSORT_GATE, TABLES, learner_sets
from ptr_core.config import load_config
from ptr_core.stats import spearman
from ptr_sim.tasks import KITCHENS, TASKS, present_objects

CPU = PRESETS['cpu']


def test_paper_preset_holds_the_values_the_papers_state():
    # PTR appendix D: "we also do not share the convolutional encoders"; figure 2: image + task.
    assert PAPER.shared_encoder is False and PAPER.use_state is False
    # PTR table X footnote: in simulation alpha 1.0 and discount 0.98; table X: batch 64.
    assert (PAPER.cql_alpha, PAPER.discount, PAPER.batch_size) == (1.0, 0.98, 64)
    # PTR appendix D: tau 0.9 for PTR (appendix) and for BC; table XI: BC dropout 0.4.
    assert (PAPER.tau, PAPER.bc_dropout) == (0.9, 0.4)
    # COG appendix A: alpha 1, discount 0.99, 10K BC warm-start steps, batch 256.
    assert (PAPER.cog_alpha, PAPER.cog_discount, PAPER.cog_bc_warmstart,
            PAPER.cog_batch_size) == (1.0, 0.99, 10_000, 256)
    # PTR appendix B: the bin sort from five demonstrations; PTR: 128 px images.
    assert (PAPER.binsort_demos, PAPER.image_size) == (5, 128)


def test_cpu_preset_departs_only_where_it_says_why():
    got = {k for k, _, _, _ in departures(CPU)}
    assert got == set(CPU_DEPARTURES)
    for key, theirs, mine, why in departures(CPU):
        assert mine == CPU_DEPARTURES[key][0] and theirs == getattr(PAPER, key) and len(why) > 10
    # The learning settings the issue names are the papers', not departures.
    for key in ('shared_encoder', 'use_state', 'cql_alpha', 'discount', 'tau', 'bc_dropout',
                'cog_discount', 'binsort_demos'):
        assert key not in CPU_DEPARTURES and getattr(CPU, key) == getattr(PAPER, key)
    # A command-line change is named as such.
    mine = departures(with_overrides(CPU, ['tau=0.7']))
    assert ('tau', 0.9, 0.7, 'set on the command line') in mine


def test_learner_flags_carry_the_preset_into_the_learner_config():
    argv = learner_sets(CPU, 3)
    cfg = load_config(overrides=argv[1::2])
    assert cfg.network.shared_encoder is False and cfg.network.use_state is False
    assert (cfg.agent.cql_alpha, cfg.agent.discount) == (1.0, 0.98)
    assert (cfg.agent.init_temperature, cfg.agent.temperature_lr) == (0.1, 3e-4)
    assert (cfg.network.image_size, cfg.train.batch_size, cfg.train.seed) == (48, 32, 3)


def _argv(stage) -> list[str]:
    return stage.params['argv']


def test_binsort_prior_never_shows_the_compound_task_or_both_objects():
    t = TABLES['binsort'](CPU)
    assert t.gate == ('BC target-only', BINSORT_GATE) and BINSORT_GATE == 0.30
    target_objects = {o for o, _ in TASKS['BinSort'].goals}
    for c in t.cells:
        for st in all_stages([c.stage]):
            if st.kind != 'collect':
                continue
            tasks = [g['task'] for g in st.params['groups']]
            if 'prior data' in st.label:
                assert 'BinSort' not in tasks and len(tasks) == 24  # 12 tasks x (clean, noisy)
                objects = {o for name in tasks for o in present_objects(TASKS[name])
                           if TASKS[name].kitchen == 'sorting_kitchen'}
                assert objects == target_objects  # both objects occur, never in one scene
                for name in tasks:
                    if TASKS[name].kitchen == 'sorting_kitchen':
                        assert len(present_objects(TASKS[name])) == 1
                allobj = {o for name in tasks for o in present_objects(TASKS[name])}
                assert len(allobj) == 10  # PTR appendix B: 10 unique objects
            elif 'BinSort demos' in st.label:
                g = st.params['groups'][0]
                assert (g['episodes'], g['style']) == (5, 'teleop')
            elif 'held-out' in st.label:
                assert st.params['groups'][0]['episodes'] == CPU.heldout_demos
    assert TASKS['BinSort'].horizon == 80  # PTR appendix B: 80-step target demos
    assert KITCHENS['sorting_kitchen'].containers.keys() == {'blue_bin', 'orange_bin'}


def test_binsort_rows_use_the_row_settings_of_the_papers():
    t = TABLES['binsort'](with_overrides(CPU, ['seeds=1']))
    runs = {c.row: c.stage.deps['run'] for c in t.cells}
    assert 'network.policy_dropout=0.4' in _argv(runs['BC target-only'])
    assert 'network.policy_dropout=0.4' not in _argv(runs['CQL target-only'])
    cog = _argv(runs['CQL joint (COG)'])
    for kv in ('agent.discount=0.99', 'agent.bc_warmstart_steps=500', 'agent.cql_alpha=1.0'):
        assert kv in cog
    assert cog.index('agent.discount=0.99') > cog.index('agent.discount=0.98')  # wins
    assert 'network.use_state=true' in _argv(runs['PTR, image + state'].deps['pre'])
    assert 'network.use_state=true' not in _argv(runs['PTR'].deps['pre'])
    for c in t.cells:
        assert c.stage.params['select_after'] == CPU.select_after > 0
        assert c.stage.params['evals']['BinSort']['episodes'] == CPU.eval_episodes


def test_selection_skips_the_early_phase():
    scores = [(200, 0.9), (400, 0.1), (600, 0.5), (800, 0.5), (1000, 0.2)]
    assert selectable(scores, 0.0) == 0  # the early peak, as before
    assert selectable(scores, 0.3) == 3  # past 300 steps: best score, ties to the later one
    assert selectable([(100, 1.0)], 0.9) == 0  # nothing past the cut: the last


def test_report_prints_paper_gate_departures_and_selection_quality(tmp_path):
    t = TABLES['binsort'](CPU)
    res = {}
    for c in t.cells:
        k = 10 if c.row == 'BC target-only' else 5
        res[c.stage.key] = {
            'evals': {'BinSort': {'successes': k, 'episodes': 50, 'one_goal': 2 * k}},
            'scores': [[200, 0.1], [400, 0.3], [600, 0.2]], 'selected_step': 400,
            'snapshots': [{'step': s, 'evals': {'BinSort': {'successes': n, 'episodes': 10}}}
                          for s, n in ((200, 1), (400, 3), (600, 2))]}
    meta = {'runs': [], 'rendered_at': 'x', 'ran_at': ['x'], 'compute_min': 0.0}
    text = report.render(t, res, meta, {})
    assert '| PTR | 10.0% (15/150) [' in text and '| 17.41 +- 1.77% |' in text
    assert '**Gate**: BC target-only 20.0% (30/150' in text and 'holds' in text
    part = text.split('## Partial progress')[1]
    assert '| PTR | 20.0% (30/150) [' in part and '| BC target-only | 40.0% (60/150) [' in part
    assert '| init_temperature | 1.0 | 0.1 |' in text
    assert '| PTR | +1.00, +1.00, +1.00 | +1.00 |' in text
    assert plots.plot_curves(t, res, tmp_path / 'c.png').stat().st_size > 5000
    for c in t.cells:
        if c.row == 'BC target-only':
            res[c.stage.key]['evals']['BinSort']['successes'] = 20
    assert 'FAILS' in report.render(t, res, meta, {})
    q = report.selection_quality(t, res)
    assert q['PTR'] == [pytest.approx(spearman([0.1, 0.3, 0.2], [0.1, 0.3, 0.2]))] * 3
