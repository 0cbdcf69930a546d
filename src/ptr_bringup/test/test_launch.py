"""Launch files, graph descriptions and the `ptr launch` process runner."""
import importlib
import importlib.metadata
import io
import os
import signal
import sys
import textwrap
import time
from types import SimpleNamespace
from unittest import mock

import pytest
import yaml
from ptr_ros.domains import private_domain
from ptr_ros.exit_codes import CONFIG_ERROR
from ptr_ros.testing import process_alive

from ptr_bringup import config_exit, graphs, launcher
from ptr_bringup.launch_support import to_launch_description
from ptr_bringup.rosenv import WORKSPACE, ensure_ros_env

LAUNCH_FILES = sorted((WORKSPACE / 'launch').glob('*.launch.py'))
FULL_ARGS = {
    'online_finetune': {'policy_ckpt': '/c/policy.pt', 'reward_ckpt': '/c/reward.pt',
                        'reset_ckpt': '/c/reset.pt', 'prior_data': '/d/prior',
                        'target_data': '/d/target', 'reset_classifier_ckpt': '/c/rc.pt'},
    'eval': {'policy_ckpt': '/c/policy.pt', 'reward_ckpt': '/c/reward.pt'},
    'trainer': {'agent_ckpt': '/c/agent.pt', 'prior_data': '/d/prior', 'target_data': '/d/t'},
    'teleop_record': {'out': '/d/demos', 'notes': 'operator A'},
}


def _entry_module(package: str, executable: str) -> str:
    dist = importlib.metadata.distribution(package.replace('_', '-'))
    for ep in dist.entry_points:
        if ep.group == 'console_scripts' and ep.name == executable:
            return ep.value.split(':')[0]
    raise AssertionError(f'{package}: no console script {executable}')


def _specs():
    out = []
    for path in LAUNCH_FILES:
        graph = launcher.load_launch_module(path).GRAPH
        for robot in graph.arguments[0].choices:  # sim, widowx (as if interbotix were there)
            with mock.patch.object(graphs, '_require_interbotix', lambda: None):
                specs = graph.nodes(FULL_ARGS[graph.name] | {'robot': robot})
            for spec in specs:
                out.append(pytest.param(graph.name, spec, id=f'{graph.name}-{robot}-{spec.name}'))
    return out


def test_launch_files_exist_and_load_without_launch():
    names = {p.name for p in LAUNCH_FILES}
    assert {'online_finetune.launch.py', 'eval.launch.py', 'trainer.launch.py'} <= names
    for path in LAUNCH_FILES:
        module = launcher.load_launch_module(path)
        assert isinstance(module.GRAPH, graphs.Graph)
        assert callable(module.generate_launch_description)
    assert 'launch' not in sys.modules and 'launch_ros' not in sys.modules


def test_every_argument_is_described():
    for graph in graphs.GRAPHS.values():
        for a in graph.arguments:
            assert len(a.description) > 10, (graph.name, a.name)
            assert not a.choices or a.default in a.choices


@pytest.mark.parametrize('graph_name,spec', _specs())
def test_node_executable_and_parameters_exist_in_install(graph_name, spec):
    ensure_ros_env()
    exe = launcher.find_executable(spec.package, spec.executable)
    assert exe.is_file() and str(exe).startswith(str(WORKSPACE / 'install'))
    module_name = _entry_module(spec.package, spec.executable)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name == module_name:
            pytest.skip(f'{module_name} is not written yet')
        raise
    declared = module.PARAMETERS
    for key, value in spec.parameters.items():
        assert key in declared, f'{graph_name}/{spec.name}: parameter {key} not declared'
        default = declared[key]
        # rclpy refuses a value whose type differs from the declared default's
        assert type(value) is type(default), (f'{spec.name}.{key}: launch passes '
                                              f'{type(value).__name__}, node declares '
                                              f'{type(default).__name__}')


def test_arguments_are_checked():
    g = graphs.GRAPHS['online_finetune']
    with pytest.raises(graphs.GraphError, match="unknown argument 'polcy_ckpt'"):
        g.nodes({'polcy_ckpt': 'x'})
    with pytest.raises(graphs.GraphError, match='argument clock: expected one of'):
        g.nodes(FULL_ARGS['online_finetune'] | {'clock': 'fast'})
    with pytest.raises(graphs.GraphError, match='^robot:=widowx needs interbotix_xs_modules'):
        g.nodes(FULL_ARGS['online_finetune'] | {'robot': 'widowx'})
    with pytest.raises(graphs.GraphError, match=r'required argument\(s\) missing: policy_ckpt'):
        g.nodes({'reward_ckpt': 'r'})
    with pytest.raises(graphs.GraphError, match='argument policy_ckpt: expected a policy'):
        g.nodes({'reward_ckpt': 'r', 'policy_ckpt': ''})
    with pytest.raises(graphs.GraphError, match='argument image_size: expected an integer'):
        graphs.GRAPHS['eval'].nodes(FULL_ARGS['eval'] | {'image_size': 'big'})


def test_arguments_reach_the_nodes():
    specs = {s.name: s for s in graphs.GRAPHS['online_finetune'].nodes(
        FULL_ARGS['online_finetune'] | {'clock': 'realtime', 'image_size': '48',
                                        'namespace': 'cell1', 'trainer': 'false'})}
    assert 'trainer_node' not in specs
    assert specs['sim_bridge'].parameters['image_size'] == 48
    assert specs['sim_bridge'].parameters['clock_mode'] == 'realtime'
    assert specs['policy_node'].parameters['clock_mode'] == 'realtime'
    assert all(s.namespace == 'cell1' for s in specs.values())
    assert specs['reset_node'].parameters['reset_when'] == 'above'


def test_widowx_graphs_run_the_arm_bridge_and_camera_in_real_time(monkeypatch):
    monkeypatch.setattr(graphs, '_require_interbotix', lambda: None)
    args = FULL_ARGS['online_finetune'] | {'robot': 'widowx', 'camera': '/dev/video2',
                                           'image_size': '128'}
    specs = {s.name: s for s in graphs.GRAPHS['online_finetune'].nodes(args)}
    assert 'sim_bridge' not in specs and specs['arm_bridge'].package == 'ptr_arm'
    assert specs['camera'].parameters == {'device': '/dev/video2', 'image_size': 128}
    assert specs['arm_bridge'].parameters == {'task': 'OpenDoor'}
    # lock-step is the sim's clock: on the arm every node runs in real time
    for name in ('safety_filter', 'policy_node', 'episode_manager'):
        assert specs[name].parameters['clock_mode'] == 'realtime', name
    with pytest.raises(graphs.GraphError, match='a real robot needs a reset policy'):
        graphs.GRAPHS['online_finetune'].nodes({k: v for k, v in args.items()
                                               if k != 'reset_ckpt'})
    teleop = [s.name for s in graphs.GRAPHS['teleop_record'].nodes({'robot': 'widowx'})]
    assert teleop == ['arm_bridge', 'camera', 'safety_filter', 'teleop', 'bag_recorder']


def test_teleop_graph_records_what_goes_through_the_safety_filter(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    specs = {s.name: s for s in graphs.GRAPHS['teleop_record'].nodes({'task': 'OpenDrawer'})}
    assert list(specs) == ['sim_bridge', 'safety_filter', 'teleop', 'bag_recorder']
    assert specs['sim_bridge'].parameters['clock_mode'] == 'realtime'  # a person's pace
    assert specs['safety_filter'].parameters['clock_mode'] == 'realtime'
    assert specs['teleop'].remappings == (('robot/action', 'safety/action_in'),)
    assert specs['teleop'].terminal and not specs['bag_recorder'].terminal
    assert specs['teleop'].parameters['task'] == 'OpenDrawer'
    assert specs['bag_recorder'].parameters['out'] == str(tmp_path / 'demos')  # absolute
    no_keys = graphs.GRAPHS['teleop_record'].nodes({'teleop': 'false'})
    assert [s.name for s in no_keys] == ['sim_bridge', 'safety_filter', 'bag_recorder']
    with pytest.raises(graphs.GraphError, match='argument input: expected one of'):
        graphs.GRAPHS['teleop_record'].nodes({'input': 'joystick'})


def test_relative_paths_resolve_against_the_launch_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    specs = {s.name: s for s in graphs.GRAPHS['online_finetune'].nodes(
        {'policy_ckpt': 'c/policy.pt', 'reward_ckpt': '~/r.pt', 'prior_data': '/abs/prior',
         'target_data': 'demos', 'run_dir': 'runs/x'})}
    assert specs['policy_node'].parameters['checkpoint'] == str(tmp_path / 'c/policy.pt')
    assert specs['reward_node'].parameters['classifier_ckpt'] == \
        os.path.join(os.path.expanduser('~'), 'r.pt')
    assert specs['trainer_node'].parameters['prior_data'] == '/abs/prior'
    assert specs['trainer_node'].parameters['target_data'] == str(tmp_path / 'demos')
    assert specs['episode_manager'].parameters['episode_dir'] == str(tmp_path / 'runs/x/episodes')
    assert specs['trainer_node'].parameters['online_config'] == ''  # empty stays empty
    assert 'relative to the directory the graph is launched from' in \
        launcher.graph_help(graphs.GRAPHS['eval'])


@pytest.mark.parametrize('value', ['OpenDoor', '', 'true', '5', '1e-3', 'a: b', '/tmp/x y.pt',
                                   True, False, 3, 0.5, 10.0, [0.35, 0.15, 0.5], "it's"])
def test_param_values_parse_back_as_the_same_yaml(value):
    assert yaml.safe_load(launcher.param_value(value)) == value


def test_node_command_line():
    spec = graphs.NodeSpec('ptr_sim', 'sim_bridge', 'bridge', 'ns1', {'task': 'OpenDoor',
                           'seed': 3}, (('camera/image_raw', 'cam0/image'),))
    assert launcher.node_command(spec, '/x/sim_bridge') == [
        '/x/sim_bridge', '--ros-args', '-r', '__node:=bridge', '-r', '__ns:=/ns1',
        '-p', 'task:=OpenDoor', '-p', 'seed:=3', '-r', 'camera/image_raw:=cam0/image']


def test_launch_description_conversion_with_recording_fakes():
    made = []

    def rec(kind):
        return lambda *a, **k: made.append((kind, a, k)) or (kind, a, k)

    class Config:
        def __init__(self, name):
            self.name = name

        def perform(self, context):
            return context[self.name]

    launch = SimpleNamespace(
        LaunchDescription=lambda actions: actions,
        actions=SimpleNamespace(DeclareLaunchArgument=rec('arg'), Shutdown=rec('shutdown'),
                                OpaqueFunction=lambda function: function,
                                LogInfo=rec('log'), EmitEvent=rec('emit'),
                                RegisterEventHandler=rec('register')),
        events=SimpleNamespace(Shutdown=rec('shutdown_event')),
        event_handlers=SimpleNamespace(OnProcessIO=rec('on_io')),
        substitutions=SimpleNamespace(LaunchConfiguration=Config))
    launch_ros = SimpleNamespace(actions=SimpleNamespace(Node=rec('node')))
    graph = graphs.GRAPHS['eval']
    actions = to_launch_description(graph, launch, launch_ros)
    declared = [a for a in actions[:-1]]
    assert [a[1][0] for a in declared] == [a.name for a in graph.arguments]
    clock = next(a for a in declared if a[1][0] == 'clock')
    assert clock[2]['choices'] == ['lockstep', 'realtime'] and clock[2]['description']
    # a required argument has no default: launch itself reports it missing
    ckpt = next(a for a in declared if a[1][0] == 'policy_ckpt')
    assert 'default_value' not in ckpt[2] and clock[2]['default_value'] == 'realtime'
    context = {a.name: a.default for a in graph.arguments} | {'policy_ckpt': '/p.pt'}
    made_for_nodes = actions[-1](context)
    nodes = made_for_nodes[0::2]
    assert [n[2]['executable'] for n in nodes] == ['sim_bridge', 'safety_node', 'policy_node']
    # each node's stderr is watched (OnProcessIO), to quote its error when it refuses
    stderr_of = {}
    for node, handler in zip(nodes, made_for_nodes[1::2]):
        assert handler[0] == 'register' and handler[1][0][0] == 'on_io'
        assert handler[1][0][2]['target_action'] is node
        stderr_of[node[2]['name']] = handler[1][0][2]['on_stderr']
    assert nodes[2][2]['parameters'] == [{'checkpoint': '/p.pt', 'clock_mode': 'realtime',
                                          'greedy': True, 'weights_key': ''}]
    # the policy's actions reach the robot only through the safety filter
    assert nodes[2][2]['remappings'] == [('robot/action', 'safety/action_in')]
    assert nodes[1][2]['parameters'] == [{'clock_mode': 'realtime'}]
    # exits: the bridge is required, the policy respawns (after a delay, in which a shutdown
    # lands), and either ends the launch with one line on a configuration error
    bridge, policy = nodes[0][2], nodes[2][2]
    assert 'respawn' not in bridge and policy['respawn'] and policy['respawn_delay'] > 0

    def exited(node, code, shutting_down=False):
        return node['on_exit'](SimpleNamespace(returncode=code),
                               SimpleNamespace(is_shutdown=shutting_down))

    assert [a[0] for a in exited(bridge, 1)] == ['shutdown'] == [a[0] for a in exited(bridge, 0)]
    assert exited(bridge, 0, shutting_down=True) is None  # stopped by the shutdown: no second
    assert exited(policy, 1) is None and exited(policy, -11) is None  # a crash: respawned
    for node in (bridge, policy):
        log, emit = exited(node, CONFIG_ERROR)
        assert log[0] == 'log' and emit[0] == 'emit' and emit[2]['event'][0] == 'shutdown_event'
        line = log[2]['msg']
        assert emit[2]['event'][2]['reason'] == line and '\n' not in line
        assert line.startswith(f'{node["name"]}: ') and 'not respawned' in line
    assert exited(policy, CONFIG_ERROR)[0][2]['msg'] == (
        f'policy_node: configuration refused (its error is above); not respawned (exit code '
        f'{CONFIG_ERROR}: a restart cannot fix this); fix policy_ckpt:=/p.pt and launch again')
    # with the node's own error line seen on its stderr (colored, in chunks), the line quotes it
    stderr_of['policy_node'](SimpleNamespace(text=b'starting\n\x1b[31mPolicyNode: '
                                             b'CheckpointError: /p.pt: checkpoint not found'
                                             b'\x1b[0m\n'))
    assert exited(policy, CONFIG_ERROR)[0][2]['msg'].startswith(
        'policy_node: CheckpointError: /p.pt: checkpoint not found; not respawned')


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


def test_cli_errors_are_one_line_and_nonzero(capsys):
    assert launcher.main(['no_such_graph']) == 2
    err = capsys.readouterr().err
    assert 'no_such_graph.launch.py: not found' in err and err.count('\n') == 1
    assert launcher.main(['eval']) == 2
    assert capsys.readouterr().err == \
        'ptr launch: eval: required argument(s) missing: policy_ckpt:=...\n'
    assert launcher.main(['online_finetune', 'robot:=widowx', 'policy_ckpt:=x',
                          'reward_ckpt:=y']) == 2
    err = capsys.readouterr().err
    assert 'robot:=widowx needs interbotix_xs_modules' in err and err.count('\n') == 1
    assert launcher.main(['eval', '--help']) == 0
    assert 'clock {lockstep|realtime}' in capsys.readouterr().out
    assert launcher.main(['eval', '--dry-run', 'policy_ckpt:=/p.pt']) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith('-p clock_mode:=realtime -p seed:=0 -p auto_reset:=true')
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_domain_id_fast_dds_cannot_use_is_refused_before_any_node_starts(capsys, monkeypatch):
    monkeypatch.setenv('ROS_DOMAIN_ID', '233')
    assert launcher.main(['eval', 'policy_ckpt:=/p.pt']) == 2
    err = capsys.readouterr().err
    assert err == "ptr launch: ROS_DOMAIN_ID: expected an integer in 0..232 (Fast DDS exits on " \
        "larger ids), got '233'\n"


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


def test_online_settings_reach_the_trainer_only_when_given():
    from ptr_core.online_config import OnlineConfig
    from ptr_trainer.trainer_node import PARAMETERS as TRAINER
    online = graphs.GRAPHS['online_finetune']
    plain = {s.name: s for s in online.nodes(FULL_ARGS['online_finetune'])}['trainer_node']
    # Not given: the trainer's OnlineConfig (or the YAML) decides, so nothing is passed.
    assert not {'utd', 'publish_every', 'batch_size', 'beta', 'cql_alpha', 'calql'} & set(
        plain.parameters)
    given = {'utd': '2', 'publish_every': '20', 'batch_size': '32', 'beta': '0.5,0.2,0.3',
             'cql_alpha': '1.5', 'calql': 'false'}
    for graph, base in ((online, FULL_ARGS['online_finetune']),
                        (graphs.GRAPHS['trainer'], FULL_ARGS['trainer'])):
        spec = [s for s in graph.nodes(base | given) if s.name == 'trainer_node'][0]
        got = {k: spec.parameters[k] for k in given}
        assert got == {'utd': 2.0, 'publish_every': 20, 'batch_size': 32,
                       'beta': [0.5, 0.2, 0.3], 'cql_alpha': 1.5, 'calql': False}
        assert set(got) <= set(TRAINER)
    # The descriptions quote the one set of defaults.
    described = {a.name: a.description for a in online.arguments}
    assert f'default {OnlineConfig().utd:g}' in described['utd']
    assert 'default 0.35,0.15,0.5' in described['beta']
    with pytest.raises(graphs.GraphError, match='argument beta: expected three fractions'):
        online.nodes(FULL_ARGS['online_finetune'] | {'beta': '0.5,0.5'})
