"""`ptr experiment` end to end at a toy size: a report from real stages, then a cached rerun."""
import re

import pytest

from ptr_bringup.experiments.cli import main

TINY = ['--seeds', '1', '--jobs', '2'] + [x for kv in [
    'prior_clean=2', 'prior_noisy=1', 'target_demos=2', 'heldout_demos=1', 'pretrain_steps=4',
    'finetune_steps=4', 'joint_steps=4', 'single_steps=4', 'snapshots=2', 'eval_episodes=2',
    'batch_size=8'] for x in ('--set', kv)]


@pytest.mark.slow
def test_a_table_runs_writes_its_report_and_reruns_from_the_cache(tmp_path, capsys):
    argv = ['door-new-kitchen', *TINY, '--store', str(tmp_path / 's'),
            '--results', str(tmp_path / 'r')]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert re.search(r'\] (\d+) stages, 0 cached; cells 0/8', out)
    assert 'cells 8/8' in out
    text = (tmp_path / 'r' / 'door-new-kitchen.md').read_text()
    for row in ('PTR', 'BC (finetune)', 'CQL zero-shot', 'AW-BC (PTR Q)'):
        assert re.search(rf'^\| {re.escape(row)} \| \d+\.\d% \(\d/2\) \[', text, re.M), row
    assert '- `ptr experiment door-new-kitchen --seeds 1' in text
    assert (tmp_path / 'r' / 'door-new-kitchen' / 'success.png').stat().st_size > 5000
    # Every cell result names the code it ran at.
    assert re.search(r'The cells ran at `[0-9a-f]{7}', text)
    assert main(argv) == 0
    n = int(re.search(r'\] (\d+) stages, 0 cached', out).group(1))
    assert f'{n} stages, {n} cached; cells 8/8' in capsys.readouterr().out


def test_bad_preset_override_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(['stitching', '--set', 'stich_steps=4', '--store', str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ptr experiment: --set 'stich_steps=4': expected KEY=VALUE" in err[0]
    assert not any(tmp_path.iterdir())  # nothing written


def test_recorded_commands_name_repository_paths_relatively():
    from ptr_bringup.experiments.cli import relative_argv
    from ptr_bringup.rosenv import WORKSPACE
    argv = ['binsort', '--store', str(WORKSPACE / 'runs' / 'x'), '--results', '/tmp/r']
    assert relative_argv(argv) == ['binsort', '--store', 'runs/x', '--results', '/tmp/r']


def test_rows_picks_the_rows_to_run_and_names_a_row_that_does_not_exist(tmp_path, capsys):
    from ptr_bringup.experiments.cli import selected_cells
    from ptr_bringup.experiments.presets import PRESETS
    from ptr_bringup.experiments.tables import TABLES
    table = TABLES['online'](PRESETS['cpu'])
    picked = selected_cells(table, ['RESIDUAL', 'start'])
    assert {c.row for c in picked} == {'PTR + residual online', 'PTR offline (start)'}
    assert len(picked) == 2 * PRESETS['cpu'].seeds
    assert selected_cells(table, []) == table.cells
    assert main(['online', '--rows', 'sac', '--store', str(tmp_path / 's')]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--rows 'sac': no row of table 'online' contains it" in err[0]
    assert not (tmp_path / 's').exists()  # nothing written
