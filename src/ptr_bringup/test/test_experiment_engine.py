"""The experiment stage cache and scheduler: identical work once, failures contained, resume."""
from pathlib import Path

import pytest

from ptr_bringup.experiments.engine import Stage, StageFailed, all_stages, run_stages

pytestmark = pytest.mark.slow  # each stage is a fresh process that imports torch

KIND = 'ptr_bringup.testing:counting_stage'


def _stage(ledger: Path, name: str, deps=None, **kw) -> Stage:
    return Stage(KIND, {'ledger': str(ledger), 'name': name, **kw}, deps or {}, label=name)


def _runs(ledger: Path) -> list[str]:
    return ledger.read_text().split() if ledger.exists() else []


def test_key_depends_on_kind_params_and_dependencies_only():
    a = Stage('collect', {'n': 1})
    assert a.key == Stage('collect', {'n': 1}, label='other words', cost=5).key
    assert a.key != Stage('collect', {'n': 2}).key
    assert a.key != Stage('train', {'n': 1}).key
    b1 = Stage('train', {'s': 1}, {'data': a})
    b2 = Stage('train', {'s': 1}, {'data': Stage('collect', {'n': 2})})
    assert b1.key != b2.key
    # Two equal stages built separately are one stage of the graph.
    c = Stage('eval', {}, {'run': b1, 'again': Stage('train', {'s': 1}, {'data': a})})
    assert [s.key for s in all_stages([c])] == [a.key, b1.key, c.key]


def test_shared_work_runs_once_and_a_second_run_redoes_nothing(tmp_path):
    ledger = tmp_path / 'ledger'
    data = _stage(ledger, 'data', value=2)
    left = _stage(ledger, 'left', {'d': data}, value=10)
    right = _stage(ledger, 'right', {'d': data}, value=20)
    top = _stage(ledger, 'top', {'l': left, 'r': right})
    lines = []
    res = run_stages([top, left], tmp_path / 'store', jobs=2, say=lines.append)
    assert sorted(_runs(ledger)) == ['data', 'left', 'right', 'top']
    assert res[top.key]['value'] == (10 + 2) + (20 + 2)  # dependencies' results reach it
    assert any('cells' in line for line in lines)
    res2 = run_stages([top], tmp_path / 'store', jobs=2, say=lines.append)
    assert len(_runs(ledger)) == 4  # all cached
    assert res2[top.key]['value'] == 34
    # A changed setting re-runs what depends on it, nothing else.
    left2 = _stage(ledger, 'left', {'d': data}, value=11)
    top2 = _stage(ledger, 'top', {'l': left2, 'r': right})
    assert run_stages([top2], tmp_path / 'store', say=lines.append)[top2.key]['value'] == 35
    assert sorted(_runs(ledger)) == ['data', 'left', 'left', 'right', 'top', 'top']


def test_a_failure_stops_its_dependents_only_and_names_the_stage_with_its_log(tmp_path):
    ledger = tmp_path / 'ledger'
    bad = _stage(ledger, 'bad', fail=True)
    after_bad = _stage(ledger, 'after_bad', {'b': bad})
    good = _stage(ledger, 'good', value=1)
    with pytest.raises(StageFailed) as e:
        run_stages([after_bad, good], tmp_path / 'store', jobs=1, say=lambda m: None)
    msg = str(e.value)
    assert 'bad (' in msg and 'failed on purpose' in msg
    assert 'about to fail: a line the error report should carry' in msg
    assert 'after_bad' not in _runs(ledger) and 'good' in _runs(ledger)
    assert (tmp_path / 'store' / good.key / 'result.json').is_file()
    assert not (tmp_path / 'store' / bad.key / 'result.json').exists()


def test_a_killed_stage_is_run_again_and_finds_what_it_left(tmp_path):
    ledger = tmp_path / 'ledger'
    dying = _stage(ledger, 'job', die=True)
    with pytest.raises(StageFailed):
        run_stages([dying], tmp_path / 'store', say=lambda m: None)
    assert (tmp_path / 'store' / dying.key / 'partial').is_file()
    # Same work, now allowed to finish (as a rerun after the kill): the key must be the same
    # for a resume, so the test moves the partial file to the new key's folder.
    ok = _stage(ledger, 'job')
    (tmp_path / 'store' / ok.key).mkdir(parents=True)
    (tmp_path / 'store' / dying.key / 'partial').rename(tmp_path / 'store' / ok.key / 'partial')
    res = run_stages([ok], tmp_path / 'store', say=lambda m: None)
    assert res[ok.key]['resumed'] is True
    assert _runs(ledger) == ['job', 'job']


def test_cores_go_to_ready_stages_first_then_to_those_that_can_spread(tmp_path):
    """Unit test of the scheduler's core book-keeping (no processes are started)."""
    from ptr_bringup.experiments.engine import _Run
    ledger = tmp_path / 'ledger'
    spread = _stage(ledger, 'eval')
    spread.max_cores = 2
    train = _stage(ledger, 'train')
    after = _stage(ledger, 'after', {'e': spread})
    run = _Run(all_stages([spread, train, after]), tmp_path / 'store', 2, lambda m: None,
               lambda s: False)
    # Two ready stages on two cores: one core each, though one of them could use two.
    assert [(s.label, c) for s, c in run.ready()] == [('eval', 1), ('train', 1)]

    alone = _stage(ledger, 'alone')
    alone.max_cores = 2
    run = _Run(all_stages([alone]), tmp_path / 'store', 2, lambda m: None, lambda s: False)
    started = run.ready()
    assert [(s.label, c) for s, c in started] == [('alone', 2)]
    run.running['future'] = (started[0][0], 0.0, 2)
    # Both cores are held: a stage that becomes ready waits until they are free.
    run.pending.append(_stage(ledger, 'late'))
    assert run.ready() == []


def test_a_stage_given_two_cores_runs_its_own_worker_processes(tmp_path):
    ledger = tmp_path / 'ledger'
    pooled = _stage(ledger, 'pooled', pool=True)
    pooled.max_cores = 2
    res = run_stages([pooled], tmp_path / 'store', jobs=2, say=lambda m: None)[pooled.key]
    assert res['cores'] == 2 and res['pids'] == 2
    single = _stage(ledger, 'single')
    assert run_stages([single], tmp_path / 'store', jobs=1,
                      say=lambda m: None)[single.key]['cores'] == 1
