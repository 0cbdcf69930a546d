"""CI graph test: the sim graph (lock-step) as separate processes over real DDS, via `ptr launch`.

The test node plays the episode manager (ends each episode after a few steps and calls
robot/reset) and the trainer (publishes signed weights), and checks what a user relies on: images
and actions flowing, one action per observation, episodes restarting through the reset service, a
wrongly signed packet refused, the policy switching to new weights (policy_version and the actions
themselves), and a clean shutdown with no process left. When the online nodes are installed the
lead extends this to the full online_finetune graph.
"""
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ptr_ros.domains import private_domain
from ptr_ros.testing import process_alive

pytestmark = [pytest.mark.ros, pytest.mark.slow]

IMAGE = 48
KEY = 'graph-test-key'
STEPS_PER_EPISODE = 8
EPISODES = 3
C1 = np.array([0.3, -0.2, 0.1, 0.0, 0.05, -0.1, 0.5], np.float32)


def tiny_agent(path):
    from ptr_core.agent import Agent
    from ptr_core.config import parse_overrides, preset
    from ptr_core.task_registry import TaskRegistry
    cfg = preset('ptr_sim_cpu')
    parse_overrides(cfg, [f'network.image_size={IMAGE}', 'network.impala_channels=[8,8]',
                          'network.q_hidden=[32,32]', 'network.policy_hidden=[32,32]',
                          'network.bottleneck_dim=32', 'network.num_tasks=4'])
    agent = Agent(cfg, tasks=TaskRegistry.create(['OpenDoor'], 3).to_dict(),
                  target_task='OpenDoor')
    agent.save(path)
    return agent


def constant_weights(agent, bias):
    """Policy weights whose greedy action is tanh(bias) whatever the observation."""
    with torch.no_grad():
        out = agent.deployed_net.actor.out  # what policy_state_bytes publishes
        out.weight.zero_()
        out.bias.zero_()
        out.bias[:7] = torch.as_tensor(bias)
    return agent.policy_state_bytes()



def _stop_graph(proc: subprocess.Popen, node_pids: list[int] = ()) -> int | str:
    """SIGINT the launcher (it stops its nodes) and return its exit code, or 'hung' if it had to
    be killed with its whole process group. With `node_pids`, Ctrl-C under `ros2 launch` is
    replayed: every node gets SIGINT itself first (the terminal's process group), then again
    from the launcher."""
    for pid in node_pids:
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            pass
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(40)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return 'hung'

def test_sim_graph_lockstep(tmp_path):
    import rclpy
    from rclpy.node import Node
    from sensor_msgs.msg import Image
    from std_msgs.msg import Float32MultiArray, String, UInt8MultiArray
    from std_srvs.srv import Trigger

    from ptr_core import rosmsg, weights
    from ptr_ros.qos import event_qos, latched_qos, sensor_qos

    torch.set_num_threads(1)
    ckpt = tmp_path / 'policy.pt'
    agent = tiny_agent(ckpt)
    fingerprint = agent.fingerprint
    domain = private_domain()
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), PYTHONUNBUFFERED='1')
    log = open(tmp_path / 'launch.log', 'w+')
    proc = subprocess.Popen(
        [sys.executable, '-m', 'ptr_bringup.launcher', 'eval', 'clock:=lockstep',
         f'image_size:={IMAGE}', f'policy_ckpt:={ckpt}', f'weights_key:={KEY}', 'seed:=0',
         '--shutdown-timeout', '10'],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    node = Node('graph_test', context=ctx)
    seen = {'images': [], 'image_shape': None, 'actions': {}, 'status': [], 'versions': []}

    def on_image(m):
        seen['images'].append(rosmsg.stamp_to_ns(m.header.stamp))
        seen['image_shape'] = (m.height, m.width, m.encoding)
    # best effort like every camera subscriber, with room for a burst: this test node may lag
    node.create_subscription(Image, 'camera/image_raw', on_image, sensor_qos(50))

    def on_action(m):
        seen['actions'][rosmsg.stamp_tag(m)] = rosmsg.float32_to_numpy(m)
    # a deep reliable queue: the test must see every action, not only the newest
    node.create_subscription(Float32MultiArray, 'robot/action', on_action, event_qos(500))
    node.create_subscription(String, 'ptr/trainer_status',
                             lambda m: seen['trainer'].append(json.loads(m.data)),
                             latched_qos())
    node.create_subscription(String, 'sim/status',
                             lambda m: seen['status'].append(json.loads(m.data)), event_qos(500))
    node.create_subscription(String, 'ptr/policy_version',
                             lambda m: seen['versions'].append(json.loads(m.data)),
                             latched_qos())
    pub_weights = node.create_publisher(UInt8MultiArray, 'ptr/policy_weights', latched_qos())
    reset = node.create_client(Trigger, 'robot/reset')
    executor = rclpy.executors.SingleThreadedExecutor(context=ctx)
    executor.add_node(node)

    def spin_until(cond, limit):
        end = time.monotonic() + limit
        while time.monotonic() < end and not cond():
            executor.spin_once(timeout_sec=0.05)
            assert proc.poll() is None, 'the graph died:\n' + _tail(log)
        return cond()

    def publish(payload, version, key):
        [packet] = weights.encode(payload, version, fingerprint, key.encode())
        pub_weights.publish(rosmsg.bytes_to_uint8(packet, UInt8MultiArray()))

    try:
        assert spin_until(lambda: seen['versions'] and seen['status'], 120), _tail(log)
        assert seen['versions'][0]['version'] == 0
        assert seen['versions'][0]['fingerprint'] == fingerprint
        # The eval graph's bridge also restarts an episode itself after its horizon (30 steps,
        # a quarter second in lock-step): a test node that falls behind under load sees those
        # too, so episodes are followed by the reset replies, not by counting from 0.
        resets, acted_before = [], []
        for k in range(EPISODES):
            ep = resets[-1]['episode'] if resets else None
            # (the first time, at least two observations seen here: this node's subscription
            # may match sim/status only mid-episode, and one must have been acted on already)
            assert spin_until(lambda: len(seen['status']) >= 2 and any(
                (ep is None or s['episode'] == ep)  # noqa: B023
                and s['step'] >= STEPS_PER_EPISODE for s in seen['status']), 60), _tail(log)
            if k == 0:
                # An observation exists only once the previous one's action was applied: all
                # but the newest observation seen now were acted on before any weights went out.
                acted_before = [st['stamp_ns'] for st in seen['status'][:-1]]
                publish(constant_weights(agent, -C1), 5, 'wrong-key')  # must be refused
                publish(constant_weights(agent, np.arctanh(C1)), 1, KEY)
                assert spin_until(lambda: len(seen['versions']) >= 2, 30), _tail(log)
            future = reset.call_async(Trigger.Request())
            assert spin_until(future.done, 30)
            resets.append(json.loads(future.result().message))
        assert spin_until(lambda: any(s['episode'] == resets[-1]['episode'] and s['step'] >= 2
                                      for s in seen['status']), 60)
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
        code = _stop_graph(proc)
    text = _tail(log, 100000)

    # each reset started a new episode at the observation it named
    started = [r['episode'] for r in resets]
    assert all(b > a for a, b in zip(started, started[1:])), started
    firsts = {(s['episode'], s['stamp_ns']) for s in seen['status'] if s['step'] == 0}
    assert {(r['episode'], r['stamp_ns']) for r in resets} <= firsts
    episodes = sorted({s['episode'] for s in seen['status']})
    assert episodes == list(range(episodes[0], started[-1] + 1))
    assert all(s['task'] == 'OpenDoor' for s in seen['status'])
    stamps = [s['stamp_ns'] for s in seen['status']]
    assert len(set(stamps)) == len(stamps)
    # Images flowed through every episode, each the image of an observation the sim announced
    # (its status follows it, so the newest may have none yet). This observer is best effort,
    # like the policy, and subscribed late and slow may miss frames; that the policy got every
    # observation's image is shown by its actions, below.
    assert seen['image_shape'] == (IMAGE, IMAGE, 'rgb8')
    episode_of = {s['stamp_ns']: s['episode'] for s in seen['status']}
    announced = [t for t in seen['images'] if stamps[0] <= t <= max(stamps)]
    assert set(announced) <= set(episode_of)
    assert {episode_of[t] for t in announced} >= set(range(started[0], started[-1] + 1))
    # One action per observation: every observation the sim published got its action (counted
    # from the first reset, long after this node's subscriptions matched the graph's publishers),
    # but for one a requested reset superseded before the policy acted: no action is due for
    # the past (the policy never acts on an observation older than one it has, the action chain
    # keeps only the newest command, and the sim refuses any but the current observation's).
    order = sorted(stamps)
    superseded = {order[order.index(r['stamp_ns']) - 1] for r in resets}
    since = [s['stamp_ns'] for s in seen['status'] if s['episode'] >= started[0]]
    missing = [t for t in since[:-2] if t not in seen['actions'] and t not in superseded]
    assert not missing, f'{len(missing)} of {len(since)} observations without an action'
    # the wrongly signed packet was refused, the good one runs: version and actions say so
    assert [v['version'] for v in seen['versions']] == [0, 1]
    assert 'refused: weights packet: HMAC mismatch' in text
    # Which weights acted is decided by causality, not by arrival order: acted_before were
    # acted on before the weights were sent; every episode from the first reset on began after
    # version 1 was seen running.
    before = [seen['actions'][t] for t in acted_before if t in seen['actions']]
    after = [a for t, a in seen['actions'].items() if t in since]
    assert len(after) >= STEPS_PER_EPISODE and before
    late = np.stack(after)
    np.testing.assert_allclose(late, np.broadcast_to(C1, late.shape), atol=1e-5)
    assert not np.allclose(np.stack(before), C1, atol=1e-3)
    # clean shutdown, nothing left behind
    assert code == 0, text[-3000:]
    pids = [int(p) for p in re.findall(r'started \S+ \(pid (\d+)\)', text)]
    assert len(pids) == 3  # bridge, safety filter, policy
    assert not [p for p in pids if process_alive(p)]


def _tail(log, n=4000):
    log.flush()
    log.seek(0)
    return log.read()[-n:]


def _check_episodes_stored_once(run: Path, announced: list[dict], trainer: dict) -> None:
    """One format, one copy: each announced episode is a one-episode dataset shard in the
    trainer's buffer folder, unchanged since its announcement (sha256 of the packed shard),
    nothing else holds episode data, and the trainer took every one and sampled from them."""
    from ptr_core.data.dataset import TaskDataset, pack_shard
    shards = sorted(p for p in run.rglob('shard-*') if p.is_dir())
    assert [p.parent for p in shards] == [run / 'episodes' / 'OpenDoor'] * len(shards)
    # every announced one is there; at most one more (written as the graph was stopped)
    assert set(Path(a['path']) for a in announced) <= set(shards) and \
        len(shards) <= len(announced) + 1
    for ann in announced:
        assert hashlib.sha256(pack_shard(ann['path'])).hexdigest() == ann['sha256']
        assert ann['name'] == f"OpenDoor/{Path(ann['path']).name}" and 1 <= ann['length'] <= 6
    for ann in announced:
        episode = TaskDataset(run / 'episodes' / 'OpenDoor', only=[Path(ann['path'])])
        assert [e.length for e in episode.episodes] == [ann['length']]
    assert not list(run.rglob('*.npz')) and not (run / 'buffer').exists()
    assert trainer['episodes'] == len(announced), trainer
    assert trainer['runs'] == {announced[0]['run']: len(announced)}, trainer
    assert trainer['sampled_online'] > 0, trainer


@pytest.mark.parametrize('mode', ['calql', 'residual'])
def test_online_finetune_graph_lockstep(tmp_path, mode):
    """The whole online graph (bridge, policy, reward, episode manager, trainer) for 3 episodes:
    each episode is stored once, as the one shard the manager wrote into the trainer's buffer
    folder, and the trainer samples from it. online_mode:=residual: the policy node runs the
    trainer's residual weights, every correction it reports is within the bound, and the
    safety filter shows the bound on safety/status."""
    import rclpy
    from rclpy.node import Node
    from sensor_msgs.msg import Image
    from std_msgs.msg import Float32, Float32MultiArray, String, UInt8MultiArray

    from ptr_bringup.testing import online_graph_inputs
    from ptr_ros.qos import action_qos, event_qos, latched_qos, sensor_qos

    torch.set_num_threads(1)
    inputs = online_graph_inputs(tmp_path, IMAGE)
    ckpt, reward_ckpt = inputs['policy_ckpt'], inputs['reward_ckpt']

    domain = private_domain()
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), PYTHONUNBUFFERED='1')
    log = open(tmp_path / 'launch.log', 'w+')
    proc = subprocess.Popen(
        [sys.executable, '-m', 'ptr_bringup.launcher', 'online_finetune', 'clock:=lockstep',
         f'image_size:={IMAGE}', f'policy_ckpt:={ckpt}', f'reward_ckpt:={reward_ckpt}',
         f'prior_data:={inputs["prior_data"]}', f'target_data:={inputs["target_data"]}',
         f'run_dir:={tmp_path / "run"}', f'weights_key:={KEY}', 'horizon:=6',
         'utd:=1.0', 'publish_every:=4', f'online_mode:={mode}', 'residual_bound:=0.15',
         '--shutdown-timeout', '15'],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    node = Node('online_graph_test', context=ctx)
    seen = {'images': 0, 'actions': 0, 'rewards': 0, 'weights': 0, 'versions': [],
            'episodes': [], 'status': [], 'trainer': [], 'corrections': [], 'safety': []}

    def count(key):
        return lambda m: seen.__setitem__(key, seen[key] + 1)
    node.create_subscription(Image, 'camera/image_raw', count('images'), sensor_qos())
    node.create_subscription(Float32MultiArray, 'robot/action', count('actions'), action_qos())
    node.create_subscription(Float32, 'ptr/reward', count('rewards'), event_qos(50))
    node.create_subscription(UInt8MultiArray, 'ptr/policy_weights', count('weights'),
                             latched_qos())
    node.create_subscription(String, 'ptr/policy_version',
                             lambda m: seen['versions'].append(json.loads(m.data)['version']),
                             latched_qos())
    node.create_subscription(String, 'ptr/episode',
                             lambda m: seen['episodes'].append(json.loads(m.data)),
                             latched_qos(100))
    node.create_subscription(String, 'ptr/trainer_status',
                             lambda m: seen['trainer'].append(json.loads(m.data)),
                             latched_qos())
    node.create_subscription(Float32MultiArray, 'ptr/residual_correction',
                             lambda m: seen['corrections'].append(tuple(m.data)), action_qos())
    node.create_subscription(String, 'safety/status',
                             lambda m: seen['safety'].append(json.loads(m.data)), latched_qos())
    node.create_subscription(String, 'sim/status',
                             lambda m: seen['status'].append(json.loads(m.data)), event_qos(50))
    executor = rclpy.executors.SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    try:
        # episodes run until the trainer's weights run in the policy (the trainer may come up
        # after the first episodes: its buffer catches up), then the test stops the graph
        end = time.monotonic() + 200
        while proc.poll() is None and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
            if seen['versions'] and max(seen['versions']) >= 1 and \
                    len(seen['episodes']) >= EPISODES and seen['trainer'] and \
                    seen['trainer'][-1]['sampled_online'] > 0 and \
                    seen['trainer'][-1]['episodes'] == len(seen['episodes']) and \
                    (mode != 'residual' or any(c > 0 for c, _ in seen['corrections'])):
                break
        assert proc.poll() is None, 'the graph died:\n' + _tail(log)
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
        started = [int(p) for p in re.findall(r'started \S+ \(pid (\d+)\)', _tail(log, 200000))]
        t_stop = time.monotonic()
        code = _stop_graph(proc, started)
        stop_s = time.monotonic() - t_stop
    text = _tail(log, 200000)
    # Ctrl-C as ros2 launch delivers it (twice per node): a clean exit, fast, no traceback or
    # abort from any node (launch's default is 5 s before it escalates to SIGTERM).
    assert code == 0 and stop_s < 15.0, (code, stop_s, text[-3000:])
    for bad in ('Traceback', 'terminate called', 'Aborted', 'context is invalid'):
        at = text.find(bad)
        assert at < 0, text[max(0, at - 1500):at + 1500]
    assert seen['images'] > 0 and seen['actions'] > 0, text[-3000:]
    assert seen['rewards'] > 0, text[-3000:]
    assert len(seen['episodes']) >= EPISODES, text[-3000:]
    # the bridge starts in episode 0; each robot/reset call of the manager starts the next one
    assert {s['episode'] for s in seen['status']} >= set(range(1, EPISODES + 1))
    _check_episodes_stored_once(tmp_path / 'run', seen['episodes'], seen['trainer'][-1])
    assert seen['weights'] >= 1 and max(seen['versions']) >= 1, text[-3000:]
    if mode == 'residual':
        assert 'residual mode, bound 0.15' in text
        assert seen['corrections'] and all(c <= 0.15 + 1e-6 and b == pytest.approx(0.15)
                                           for c, b in seen['corrections'])
        assert max(c for c, _ in seen['corrections']) > 0  # the trainer's head is running
        assert seen['safety'][-1]['residual_bound'] == pytest.approx(0.15)
        assert not [x for x in seen['safety'] if x['state'] == 'estop']
    else:
        assert not seen['corrections'] and 'residual_bound' not in seen['safety'][-1]
    assert code == 0, text[-3000:]
    pids = [int(p) for p in re.findall(r'started \S+ \(pid (\d+)\)', text)]
    assert len(pids) == 6  # bridge, safety filter, policy, reward, episode manager, trainer
    assert not [p for p in pids if process_alive(p)]
