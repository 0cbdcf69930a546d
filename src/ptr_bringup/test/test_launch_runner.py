"""The process runner of `ptr launch` on plain processes: stopping, respawning, exit codes, and
the contract for configuration errors (a node that exits CONFIG_ERROR is not respawned and ends
the graph with one line naming the node, its error and the argument to fix)."""
import io
import os
import sys
import textwrap
import time

import pytest

from ptr_bringup import config_exit, graphs, launcher
from ptr_ros.domains import private_domain
from ptr_ros.exit_codes import CONFIG_ERROR
from ptr_ros.testing import process_alive

# -- the process runner, on plain processes ------------------------------------------------------

def _script(tmp_path, name, body):
    path = tmp_path / f'{name}.py'
    path.write_text(textwrap.dedent(body))
    return [sys.executable, str(path)]



def _wait_for(predicate, limit=20.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


SPAWNER = """
    import subprocess, sys, time, pathlib
    child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])
    pathlib.Path(sys.argv[0] + '.child').write_text(str(child.pid))
    print('ready', flush=True)
    time.sleep(600)
"""
STUBBORN = """
    import signal, time, pathlib, sys
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pathlib.Path(sys.argv[0] + '.up').write_text('1')
    time.sleep(600)
"""


def test_runner_stops_everything_including_grandchildren_and_stubborn_nodes(tmp_path):
    import threading
    specs = [graphs.NodeSpec('p', 'e', 'spawner'), graphs.NodeSpec('p', 'e', 'stubborn')]
    cmds = [_script(tmp_path, 'spawner', SPAWNER), _script(tmp_path, 'stubborn', STUBBORN)]
    out = io.StringIO()
    runner = launcher.GraphRunner(specs, cmds, out=out, shutdown_timeout=1.0)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault('code', runner.run()))
    t.start()
    child_file = tmp_path / 'spawner.py.child'
    assert _wait_for(lambda: child_file.exists() and (tmp_path / 'stubborn.py.up').exists())
    grandchild = int(child_file.read_text())
    pids = runner.pids()
    assert all(process_alive(p) for p in pids + [grandchild])
    runner.stop_requested.set()
    t.join(30)
    assert result['code'] == 0
    assert _wait_for(lambda: not any(process_alive(p) for p in pids + [grandchild]), 10)
    text = out.getvalue()
    assert '[spawner] ready' in text and 'stubborn still running: SIGTERM' in text


def test_runner_exit_code_when_a_required_node_dies_or_finishes(tmp_path):
    sleeper = _script(tmp_path, 'sleeper', 'import time; time.sleep(600)')
    dies = _script(tmp_path, 'dies', 'import sys; print("bye"); sys.exit(3)')
    specs = [graphs.NodeSpec('p', 'e', 'sleeper'), graphs.NodeSpec('p', 'e', 'dies')]
    out = io.StringIO()
    runner = launcher.GraphRunner(specs, [sleeper, dies], out=out, shutdown_timeout=5.0)
    assert runner.run() == 1
    assert 'required node dies died with code 3' in out.getvalue()
    assert not any(process_alive(p) for p in runner.pids())
    finishes = _script(tmp_path, 'finishes', 'print("done")')
    runner = launcher.GraphRunner(specs, [sleeper, finishes], out=io.StringIO())
    assert runner.run() == 0


def test_runner_respawns_and_ignores_optional_nodes(tmp_path):
    counter = tmp_path / 'count'
    flaky = _script(tmp_path, 'flaky', f"""
        import pathlib, sys, time
        p = pathlib.Path({str(counter)!r})
        n = int(p.read_text()) + 1 if p.exists() else 1
        p.write_text(str(n))
        if n < 3:
            sys.exit(1)
        time.sleep(600)
    """)
    optional = _script(tmp_path, 'optional', 'import sys; sys.exit(2)')
    specs = [graphs.NodeSpec('p', 'e', 'flaky', respawn=True),
             graphs.NodeSpec('p', 'e', 'optional', required=False)]
    import threading
    runner = launcher.GraphRunner(specs, [flaky, optional], out=io.StringIO(),
                                  respawn_delay=0.1)
    t = threading.Thread(target=runner.run)
    t.start()
    assert _wait_for(lambda: counter.exists() and counter.read_text() == '3')
    runner.stop_requested.set()
    t.join(30)
    assert runner.procs[0].starts == 3


def test_a_node_refusing_its_configuration_is_not_respawned_and_ends_the_graph(tmp_path):
    sleeper = _script(tmp_path, 'sleeper', 'import time; time.sleep(600)')
    refuses = _script(tmp_path, 'refuses', f"""
        import sys
        print('starting', flush=True)
        print('PolicyNode: CheckpointError: /c/p.pt: checkpoint not found', file=sys.stderr)
        sys.exit({CONFIG_ERROR})
    """)
    specs = [graphs.NodeSpec('p', 'e', 'sleeper'),
             graphs.NodeSpec('p', 'e', 'policy_node', respawn=True)]
    out = io.StringIO()
    runner = launcher.GraphRunner(specs, [sleeper, refuses], out=out, respawn_delay=0.0,
                                  arguments={'policy_ckpt': '/c/p.pt', 'clock': 'lockstep'},
                                  sources={'policy_node': {'policy_ckpt': '/c/p.pt'}})
    assert runner.run() == 1
    assert runner.procs[1].starts == 1 and 'respawning' not in out.getvalue()
    said = [ln for ln in out.getvalue().splitlines() if 'not respawned' in ln]
    assert said == [f'[ptr launch] policy_node: CheckpointError: /c/p.pt: checkpoint not found; '
                    f'not respawned (exit code {CONFIG_ERROR}: a restart cannot fix this); fix '
                    f'policy_ckpt:=/c/p.pt and launch again']
    assert not any(process_alive(p) for p in runner.pids())


def test_the_fix_names_the_argument_that_reaches_the_refusing_node():
    online = graphs.GRAPHS['online_finetune']
    same = {'policy_ckpt': '/c/x.pt', 'reward_ckpt': '/c/x.pt', 'prior_data': '/d/p',
            'target_data': '/d/t', 'run_dir': '/r'}
    sources = config_exit.file_sources(online, same)
    # one value, two arguments: each node is told the one it reads
    assert sources['reward_node'] == {'reward_ckpt': '/c/x.pt'}
    assert sources['policy_node'] == {'policy_ckpt': '/c/x.pt'}
    assert sources['trainer_node'] == {'policy_ckpt': '/c/x.pt', 'prior_data': '/d/p',
                                       'target_data': '/d/t', 'run_dir': '/r'}
    assert sources['safety_filter'] == {}
    trainer, args = sources['trainer_node'], online.resolve(same)
    line = config_exit.config_exit_line('trainer_node', trainer,
                                        'DatasetError: /d/t: no dataset here', args)
    assert line.endswith('fix target_data:=/d/t and launch again')
    line = config_exit.config_exit_line('policy_node', sources['policy_node'], 'ValueError: '
                                        'parameter exploration_scale: expected in [0, 10], '
                                        'got 12.0', args)
    assert line.endswith('fix exploration_scale:=0.5 and launch again')
    # nothing quoted or captured (ros2 launch prints the node's error itself): its files
    line = config_exit.config_exit_line('trainer_node', trainer, None, args)
    assert 'its error is above' in line and 'fix policy_ckpt:=/c/x.pt prior_data:=/d/p' in line


def _launch_refused(tmp_path, graph: str, *assignments: str) -> tuple[int, list[str], float]:
    """`ptr launch` run to its end: exit code, output lines, wall seconds (reported only)."""
    import subprocess
    env = dict(os.environ, ROS_DOMAIN_ID=str(private_domain()), PTR_WEIGHTS_KEY='k')
    start = time.monotonic()
    out = subprocess.run([sys.executable, '-m', 'ptr_bringup.cli', 'launch', graph,
                          *assignments], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)  # a hang guard: respawning forever would never return
    return out.returncode, (out.stdout + out.stderr).splitlines(), time.monotonic() - start


@pytest.mark.ros
def test_ptr_launch_eval_with_a_missing_checkpoint_ends_in_one_line(tmp_path):
    code, lines, wall = _launch_refused(tmp_path, 'eval', 'policy_ckpt:=missing.pt')
    said = [ln for ln in lines if ln.startswith('[ptr launch]') and 'not respawned' in ln]
    assert code == 1 and len(said) == 1, lines
    missing = tmp_path / 'missing.pt'
    assert said[0].startswith(f'[ptr launch] policy_node: CheckpointError: {missing}: '), said
    assert said[0].endswith(f'fix policy_ckpt:={missing} and launch again')
    assert not any('respawning' in ln for ln in lines), lines
    print(f'ptr launch eval, missing checkpoint: exit {code} after {wall:.1f} s')


@pytest.mark.ros
def test_ptr_launch_online_finetune_with_a_corrupt_checkpoint_ends_in_one_line(tmp_path):
    (tmp_path / 'bad.pt').write_bytes(b'PK\x03\x04' + bytes(range(256)) * 8)  # cut-off zip
    code, lines, wall = _launch_refused(
        tmp_path, 'online_finetune', 'policy_ckpt:=bad.pt', 'reward_ckpt:=bad.pt',
        'prior_data:=prior', 'target_data:=demos', 'run_dir:=run')
    said = [ln for ln in lines if ln.startswith('[ptr launch]') and 'not respawned' in ln]
    assert code == 1 and len(said) == 1, lines
    # policy, reward and trainer node all read it: the first to refuse is named
    node = said[0].split()[2].rstrip(':')
    assert node in ('policy_node', 'reward_node', 'trainer_node'), said
    assert f'{tmp_path / "bad.pt"}' in said[0], said
    fix = 'reward_ckpt' if node == 'reward_node' else 'policy_ckpt'
    assert f'fix {fix}:={tmp_path / "bad.pt"}' in said[0], said
    assert not any('respawning' in ln for ln in lines), lines
    print(f'ptr launch online_finetune, corrupt checkpoint: exit {code} after {wall:.1f} s')


def test_nodes_die_when_the_launcher_is_killed(tmp_path):
    import subprocess
    pidfile = tmp_path / 'node.pid'
    node = _script(tmp_path, 'node', f"""
        import os, pathlib, time
        pathlib.Path({str(pidfile)!r}).write_text(str(os.getpid()))
        time.sleep(600)
    """)
    runner = _script(tmp_path, 'runner', f"""
        from ptr_bringup.graphs import NodeSpec
        from ptr_bringup.launcher import GraphRunner
        GraphRunner([NodeSpec('p', 'e', 'node')], [{node!r}]).run()
    """)
    proc = subprocess.Popen(runner)
    assert _wait_for(pidfile.exists)
    time.sleep(0.2)
    pid = int(pidfile.read_text())
    assert process_alive(pid)
    proc.kill()  # SIGKILL: the launcher gets no chance to clean up
    proc.wait()
    assert _wait_for(lambda: not process_alive(pid), 10)
