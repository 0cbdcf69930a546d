"""Launch files, graph descriptions and the `ptr launch` process runner."""
import importlib
import importlib.metadata
import os
import signal
import sys
from types import SimpleNamespace
from unittest import mock

import pytest
import yaml

from ptr_bringup import graphs, launcher
from ptr_bringup.launch_support import to_launch_description
from ptr_bringup.rosenv import WORKSPACE, ensure_ros_env
from ptr_ros.exit_codes import CONFIG_ERROR

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


def test_cli_errors_are_one_line_and_nonzero(capsys):
    # The handler main() must leave behind is the one it found: Python's default, or SIG_IGN
    # when the tests were started as a background job of a non-interactive shell (POSIX shells
    # start those with SIGINT ignored).
    found = signal.getsignal(signal.SIGINT)
    assert found in (signal.default_int_handler, signal.SIG_IGN)
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
    assert lines[0].endswith('-p clock_mode:=realtime -p seed:=0 -p auto_reset:=true '
                             '-p require_ready:=policy')
    assert signal.getsignal(signal.SIGINT) is found


def test_a_domain_id_fast_dds_cannot_use_is_refused_before_any_node_starts(capsys, monkeypatch):
    monkeypatch.setenv('ROS_DOMAIN_ID', '233')
    assert launcher.main(['eval', 'policy_ckpt:=/p.pt']) == 2
    err = capsys.readouterr().err
    assert err == "ptr launch: ROS_DOMAIN_ID: expected an integer in 0..232 (Fast DDS exits on " \
        "larger ids), got '233'\n"


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


def test_residual_mode_reaches_trainer_policy_and_safety_filter(tmp_path):
    """online_mode:=residual: one bound for the trainer, the policy node and the safety filter;
    from the online_config YAML too; it is the default (OnlineConfig's), and
    online_mode:=calql runs none of it."""
    from ptr_core.online_config import OnlineConfig
    from ptr_policy.policy_node import PARAMETERS as POLICY
    from ptr_safety.safety_node import PARAMETERS as SAFETY
    from ptr_trainer.trainer_node import PARAMETERS as TRAINER
    online = graphs.GRAPHS['online_finetune']
    plain = {s.name: s for s in online.nodes(FULL_ARGS['online_finetune'])}
    assert OnlineConfig().mode == 'residual'
    assert plain['policy_node'].parameters['residual_bound'] == OnlineConfig().residual_bound
    assert plain['safety_filter'].parameters['residual_bound'] == OnlineConfig().residual_bound
    assert 'mode' not in plain['trainer_node'].parameters  # left to OnlineConfig, one home
    calql = {s.name: s for s in online.nodes(FULL_ARGS['online_finetune'] | {
        'online_mode': 'calql'})}
    assert calql['trainer_node'].parameters['mode'] == 'calql'
    assert 'residual_bound' not in calql['policy_node'].parameters
    assert 'residual_bound' not in calql['safety_filter'].parameters
    specs = {s.name: s for s in online.nodes(FULL_ARGS['online_finetune'] | {
        'online_mode': 'residual', 'residual_bound': '0.15'})}
    assert specs['trainer_node'].parameters['mode'] == 'residual'
    assert specs['trainer_node'].parameters['residual_bound'] == 0.15
    assert specs['policy_node'].parameters['residual_bound'] == 0.15
    assert specs['policy_node'].parameters['residual_samples'] == 8
    assert specs['safety_filter'].parameters['residual_bound'] == 0.15
    assert {'mode', 'residual_bound'} <= set(TRAINER)
    assert {'residual_bound', 'residual_samples'} <= set(POLICY)
    assert 'residual_bound' in SAFETY
    yaml = tmp_path / 'online.yaml'
    yaml.write_text('mode: residual\nresidual_bound: 0.3\n')
    specs = {s.name: s for s in online.nodes(FULL_ARGS['online_finetune'] | {
        'online_config': str(yaml)})}
    assert specs['safety_filter'].parameters['residual_bound'] == 0.3
    assert specs['policy_node'].parameters['residual_bound'] == 0.3
    with pytest.raises(graphs.GraphError, match='argument online_mode: expected one of'):
        online.nodes(FULL_ARGS['online_finetune'] | {'online_mode': 'sac'})
    with pytest.raises(graphs.GraphError, match='residual bound: expected in'):
        online.nodes(FULL_ARGS['online_finetune'] | {'online_mode': 'residual',
                                                    'residual_bound': '0'})


def test_starts_reach_the_sim_bridge_only_when_not_the_demos():
    from ptr_sim.bridge_node import PARAMETERS as BRIDGE
    online = graphs.GRAPHS['online_finetune']
    bridge = {s.name: s for s in online.nodes(FULL_ARGS['online_finetune'])}['sim_bridge']
    assert 'starts' not in bridge.parameters
    for name in ('online_finetune', 'eval'):
        spec = {s.name: s for s in graphs.GRAPHS[name].nodes(
            FULL_ARGS[name] | {'starts': 'mixed'})}['sim_bridge']
        assert spec.parameters['starts'] == 'mixed' and 'starts' in BRIDGE
    with pytest.raises(graphs.GraphError, match='argument starts: expected one of'):
        online.nodes(FULL_ARGS['online_finetune'] | {'starts': 'far'})
