"""The graphs in launch/ under ROS 2's own test tool, launch_pytest (`colcon test` on a ROS 2
Jazzy install: `apt install ros-jazzy-launch-pytest`).

Each test includes the real `.launch.py` file, waits for images, actions, rewards and (online and
trainer) a weights version to flow on the topics of DESIGN.md s5, and after shutdown asserts that
every launched process exited 0; a missing checkpoint must end the launch by itself, with one line
and without a respawn (ptr_ros.exit_codes.CONFIG_ERROR); Ctrl-C of the online graph mid-training
(the terminal's SIGINT to every node, then launch's own shutdown) ends every node with 0 within
launch's 5 s sigterm_timeout, quietly, with the trainer's final checkpoint written. Where
launch_pytest is not importable (this repository's venv: ROS 2 launch is not on the package
registry) the module is skipped with that reason; the same graphs run through `ptr launch` in
test_graph_sim.py, test_launch.py and test_ctrl_c.py.
"""
from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest

launch_pytest = pytest.importorskip(
    'launch_pytest', reason='launch_pytest is not importable (ROS 2 launch is not installed: '
    'apt install ros-jazzy-launch-pytest); the graphs run via ptr launch in test_graph_sim.py')

import launch.actions  # noqa: E402
import launch.event_handlers  # noqa: E402
import launch.launch_description_sources  # noqa: E402

import launch  # noqa: E402  (only after the skip: launch exists where launch_pytest does)
from ptr_bringup.rosenv import WORKSPACE  # noqa: E402
from ptr_ros.domains import private_domain  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]
IMAGE = 48
KEY = 'launch-pytest-key'
DOMAIN = private_domain()
WAIT_S = 180.0


@pytest.fixture(scope='module')
def inputs(tmp_path_factory) -> dict[str, str]:
    """Tiny checkpoints and datasets, enough for every graph to run a few episodes."""
    from ptr_bringup.testing import online_graph_inputs
    tmp = tmp_path_factory.mktemp('launch_pytest')
    inputs = online_graph_inputs(tmp, IMAGE)
    return inputs | {'agent_ckpt': inputs['policy_ckpt'], 'run_dir': str(tmp / 'run'),
                     'episodes_dir': str(tmp / 'episodes')}


class Exits:
    """Exit codes of every process the launch service ran (OnProcessExit on all of them), and
    the reasons of every shutdown."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.every: list[tuple[str, int]] = []  # a respawned process exits more than once
        self.shutdowns: list[str] = []
        self.pids: dict[str, int] = {}
        self.ended_at: dict[str, float] = {}  # time.monotonic() of each exit
        self.output: list[str] = []  # every process's stdout and stderr

    def handler(self) -> launch.actions.RegisterEventHandler:
        def on_exit(event, context):
            self.codes[event.action.name] = event.returncode
            self.every.append((event.action.name, event.returncode))
            self.ended_at[event.action.name] = time.monotonic()
        return launch.actions.RegisterEventHandler(
            launch.event_handlers.OnProcessExit(on_exit=on_exit))

    def start_handler(self) -> launch.actions.RegisterEventHandler:
        def on_start(event, context):
            self.pids[event.action.name] = event.pid
        return launch.actions.RegisterEventHandler(
            launch.event_handlers.OnProcessStart(on_start=on_start))

    def io_handler(self) -> launch.actions.RegisterEventHandler:
        def on_text(event):
            self.output.append(event.text.decode('utf-8', 'replace'))
        return launch.actions.RegisterEventHandler(
            launch.event_handlers.OnProcessIO(on_stdout=on_text, on_stderr=on_text))

    def shutdown_handler(self) -> launch.actions.RegisterEventHandler:
        return launch.actions.RegisterEventHandler(launch.event_handlers.OnShutdown(
            on_shutdown=lambda event, context: self.shutdowns.append(event.reason)))


def graph(file: str, args: dict[str, str], exits: Exits) -> launch.LaunchDescription:
    """The real launch file, included with `args`, on a private DDS domain."""
    source = launch.launch_description_sources.PythonLaunchDescriptionSource(
        str(WORKSPACE / 'launch' / file))
    return launch.LaunchDescription([
        launch.actions.SetEnvironmentVariable('ROS_DOMAIN_ID', str(DOMAIN)),
        launch.actions.SetEnvironmentVariable('PTR_WEIGHTS_KEY', KEY),
        exits.handler(),
        exits.shutdown_handler(),
        exits.start_handler(),
        exits.io_handler(),
        launch.actions.IncludeLaunchDescription(source, launch_arguments=list(args.items())),
        launch_pytest.actions.ReadyToTest(),
    ])


class Probe:
    """A node on the graph's domain counting what flows on the contract's topics."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import Image
        from std_msgs.msg import Float32, Float32MultiArray, String, UInt8MultiArray

        from ptr_ros.qos import action_qos, event_qos, latched_qos, sensor_qos
        self.seen = {'images': 0, 'actions': 0, 'rewards': 0, 'weights': 0, 'versions': []}
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx, domain_id=DOMAIN)
        self.node = rclpy.create_node('launch_pytest_probe', context=self.ctx)
        self.node.create_subscription(Image, 'camera/image_raw', self._count('images'),
                                      sensor_qos())
        self.node.create_subscription(Float32MultiArray, 'robot/action', self._count('actions'),
                                      action_qos())
        self.node.create_subscription(Float32, 'ptr/reward', self._count('rewards'),
                                      event_qos(50))
        self.node.create_subscription(UInt8MultiArray, 'ptr/policy_weights',
                                      self._count('weights'), latched_qos())
        self.node.create_subscription(
            String, 'ptr/policy_version',
            lambda m: self.seen['versions'].append(json.loads(m.data)['version']), latched_qos())
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _count(self, key: str):
        return lambda _msg: self.seen.__setitem__(key, self.seen[key] + 1)

    def _spin(self) -> None:
        while self.ctx.ok():
            self.executor.spin_once(timeout_sec=0.05)

    def wait(self, condition, timeout: float = WAIT_S) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not condition(self.seen):
            time.sleep(0.1)
        return condition(self.seen)

    def close(self) -> None:
        import rclpy
        rclpy.shutdown(context=self.ctx)
        self.thread.join(5)


def _flowing(versions: bool):
    return lambda s: (s['images'] > 0 and s['actions'] > 0 and s['rewards'] > 0
                      and (not versions or bool(s['versions']) and max(s['versions']) >= 1))


def _all_exited_zero(exits: Exits, at_least: int) -> None:
    assert len(exits.codes) >= at_least, exits.codes
    assert all(code == 0 for code in exits.codes.values()), exits.codes


EXITS = {name: Exits() for name in ('eval', 'online', 'trainer', 'refused', 'ctrl_c')}


@launch_pytest.fixture
def eval_graph(inputs):
    return graph('eval.launch.py', {
        'clock': 'lockstep', 'image_size': str(IMAGE), 'policy_ckpt': inputs['policy_ckpt'],
        'reward_ckpt': inputs['reward_ckpt'], 'weights_key': KEY}, EXITS['eval'])


@pytest.mark.launch(fixture=eval_graph)
def test_eval_graph():
    probe = Probe()
    try:
        assert probe.wait(_flowing(versions=False)), probe.seen
    finally:
        probe.close()
    yield
    _all_exited_zero(EXITS['eval'], 4)  # bridge, safety filter, policy, reward


@launch_pytest.fixture
def online_graph(inputs):
    return graph('online_finetune.launch.py', {
        'clock': 'lockstep', 'image_size': str(IMAGE), 'policy_ckpt': inputs['policy_ckpt'],
        'reward_ckpt': inputs['reward_ckpt'], 'prior_data': inputs['prior_data'],
        'target_data': inputs['target_data'], 'run_dir': inputs['run_dir'],
        'weights_key': KEY, 'horizon': '6', 'utd': '1.0', 'publish_every': '4',
        'online_config': _no_warmup(inputs)}, EXITS['online'])


def _no_warmup(inputs) -> str:
    """Every episode earns updates, so a weights version comes within a few episodes."""
    path = Path(inputs['run_dir']).parent / 'online.yaml'
    path.write_text('warmup_episodes: 0\n')
    return str(path)


@pytest.mark.launch(fixture=online_graph)
def test_online_finetune_graph_lockstep():
    probe = Probe()
    try:
        assert probe.wait(_flowing(versions=True)), probe.seen
    finally:
        probe.close()
    yield
    _all_exited_zero(EXITS['online'], 6)  # + safety filter, episode manager, trainer


@launch_pytest.fixture
def trainer_graph(inputs):
    return graph('trainer.launch.py', {
        'agent_ckpt': inputs['agent_ckpt'], 'prior_data': inputs['prior_data'],
        'target_data': inputs['target_data'], 'run_dir': inputs['run_dir'] + '_trainer',
        'weights_key': KEY, 'utd': '2.0', 'publish_every': '4',
        'online_config': _no_warmup(inputs)}, EXITS['trainer'])


@pytest.mark.launch(fixture=trainer_graph)
def test_trainer_graph(inputs):
    """The off-board trainer alone (no shared disk): an inline episode in, a weights version
    out."""
    from std_msgs.msg import String, UInt8MultiArray

    from ptr_core import rosmsg
    from ptr_core.testing import random_episode
    from ptr_ros.episode_transfer import EpisodeWriter
    from ptr_ros.qos import latched_qos
    probe = Probe()
    try:
        pub = probe.node.create_publisher(String, 'ptr/episode', latched_qos(100))
        data = probe.node.create_publisher(UInt8MultiArray, 'ptr/episode_data', latched_qos(64))
        assert probe.wait(lambda s: pub.get_subscription_count() > 0, 60), 'no trainer'
        writer = EpisodeWriter(Path(inputs['episodes_dir']), 'probe', 'inline', KEY.encode())
        ann, packets = writer.write(random_episode('OpenDoor', 50, 4, False, IMAGE), 1)
        for packet in packets:
            data.publish(rosmsg.bytes_to_uint8(packet, UInt8MultiArray()))
        pub.publish(ann.to_msg())
        assert probe.wait(lambda s: s['weights'] > 0), probe.seen  # no policy node: packets
    finally:
        probe.close()
    yield
    _all_exited_zero(EXITS['trainer'], 1)



@launch_pytest.fixture
def eval_missing_checkpoint(tmp_path_factory):
    missing = tmp_path_factory.mktemp('refused') / 'missing.pt'
    return graph('eval.launch.py', {'clock': 'lockstep', 'policy_ckpt': str(missing)},
                 EXITS['refused'])


@pytest.mark.launch(fixture=eval_missing_checkpoint)
def test_a_missing_checkpoint_ends_the_launch_without_a_respawn():
    from ptr_ros.exit_codes import CONFIG_ERROR
    exits = EXITS['refused']
    end = time.monotonic() + 60.0  # a guard: the launch ends itself once the policy node refuses
    while time.monotonic() < end and not exits.shutdowns:
        time.sleep(0.1)
    yield
    # launch names a process after its executable plus a count: policy_node-3
    policy = [code for name, code in exits.every if name.rsplit('-', 1)[0] == 'policy_node']
    assert policy == [CONFIG_ERROR], exits.every  # exited once: not respawned
    said = [r for r in exits.shutdowns if 'not respawned' in r]
    assert said and said[0].startswith('policy_node: ') and 'fix policy_ckpt:=' in said[0], \
        exits.shutdowns
    assert 'missing.pt' in said[0] and '\n' not in said[0]


@launch_pytest.fixture
def online_graph_for_ctrl_c(inputs, tmp_path_factory):
    """The online graph with the sim CPU preset's agent: its updates are slow enough that the
    Ctrl-C below lands inside a slice of them (test_ctrl_c.py says why that matters)."""
    from ptr_core.agent import Agent
    from ptr_core.config import preset
    from ptr_core.task_registry import TaskRegistry
    tmp = tmp_path_factory.mktemp('ctrl_c')
    cfg = preset('ptr_sim_cpu')
    cfg.network.image_size, cfg.network.num_tasks = IMAGE, 4
    agent = Agent(cfg, TaskRegistry.create(['CloseDrawer', 'OpenDoor']).to_dict(), 'OpenDoor')
    CTRL_C['run_dir'] = tmp / 'run'
    return graph('online_finetune.launch.py', {
        'clock': 'lockstep', 'image_size': str(IMAGE),
        'policy_ckpt': str(agent.save(tmp / 'preset.pt')), 'reward_ckpt': inputs['reward_ckpt'],
        'prior_data': inputs['prior_data'], 'target_data': inputs['target_data'],
        'run_dir': str(CTRL_C['run_dir']), 'weights_key': KEY, 'horizon': '6', 'utd': '4.0',
        'publish_every': '4', 'online_config': _no_warmup(inputs)}, EXITS['ctrl_c'])


CTRL_C: dict = {}
ONLINE_NODES = 6  # bridge, safety filter, policy, reward, episode manager, trainer


@pytest.mark.launch(fixture=online_graph_for_ctrl_c)
def test_ctrl_c_of_the_online_graph_ends_every_node_cleanly_within_5_s():
    """Ctrl-C in the terminal: SIGINT to every node (its process group), then launch's own
    shutdown when the test yields (SIGINT again, SIGTERM after sigterm_timeout = 5 s)."""
    exits = EXITS['ctrl_c']
    probe = Probe()
    try:  # the premise: the trainer is training (its first weights are out, updates still due)
        assert probe.wait(_flowing(versions=True)), probe.seen
    finally:
        probe.close()
    assert len(exits.pids) == ONLINE_NODES, exits.pids
    CTRL_C['t0'] = time.monotonic()
    for pid in exits.pids.values():
        os.kill(pid, signal.SIGINT)
    yield
    _all_exited_zero(exits, ONLINE_NODES)
    late = {n: t - CTRL_C['t0'] for n, t in exits.ended_at.items() if t - CTRL_C['t0'] >= 5.0}
    assert not late, late
    text = ''.join(exits.output)
    for bad in ('terminate called', 'rosout', 'Traceback', 'KeyboardInterrupt'):
        assert bad not in text, text[-3000:]
    said = re.findall(r'stopped: checkpoint at update (\d+)', text)
    assert said and (CTRL_C['run_dir'] / 'checkpoints' /
                     f'online_{int(said[0]):07d}.pt').is_file(), text[-3000:]
