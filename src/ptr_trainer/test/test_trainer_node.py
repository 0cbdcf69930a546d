"""The trainer node as its own process over real DDS: file and inline episodes in (each stored
once, as the one shard the robot wrote), signed weights out, which a DeployablePolicy accepts."""
import json
import os
import subprocess
import sys
import time

import pytest
import torch

from ptr_core.agent import Agent
from ptr_core.data import DatasetWriter
from ptr_core.task_registry import TaskRegistry
from ptr_core.testing import random_episode as traj
from ptr_core.testing import tiny_config
from ptr_ros.domains import private_domain
from ptr_ros.testing import stop_process

pytestmark = [pytest.mark.ros, pytest.mark.slow]
torch.set_num_threads(1)
KEY = 'test-key-123'


@pytest.fixture()
def setup(tmp_path):
    reg = TaskRegistry.create(['CloseDrawer', 'OpenDoor'])
    ckpt = Agent(tiny_config(), reg.to_dict(), 'OpenDoor').save(tmp_path / 'ft.pt')
    with DatasetWriter(tmp_path / 'prior') as w:
        for i in range(3):
            w.add(traj('CloseDrawer', i, success=True))
    with DatasetWriter(tmp_path / 'demos') as w:
        w.add(traj('OpenDoor', 10, success=True))
    return tmp_path, ckpt


def trainer_command(tmp, ckpt, *extra: str) -> list[str]:
    """The trainer node on the fixture's data: utd 2, a version every 4 updates, and every
    episode earning updates (the warm-up is test_online's)."""
    params = [f'agent_ckpt:={ckpt}', f'prior_data:={tmp / "prior"}',
              f'target_data:={tmp / "demos"}', f'online_dir:={tmp / "online"}', 'utd:=2.0',
              'publish_every:=4', 'batch_size:=16', 'warmup_episodes:=0', *extra]
    return [sys.executable, '-m', 'ptr_trainer.trainer_node', '--ros-args'] + [
        x for p in params for x in ('-p', p)]


def test_trainer_node_file_and_inline(setup):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from std_msgs.msg import String, UInt8MultiArray

    from ptr_core import rosmsg, weights
    from ptr_core.policy import DeployablePolicy
    from ptr_ros.episode_transfer import EpisodeWriter
    from ptr_ros.qos import latched_qos

    tmp, ckpt = setup
    domain = private_domain()
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), PTR_WEIGHTS_KEY=KEY)
    cmd = trainer_command(tmp, ckpt, 'chunk_size:=20000', 'mode:=calql')  # a policy's label
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    try:
        node = rclpy.create_node('test_trainer', context=ctx)
        ex = SingleThreadedExecutor(context=ctx)
        ex.add_node(node)
        packets = []
        node.create_subscription(UInt8MultiArray, 'ptr/policy_weights',
                                 lambda m: packets.append(rosmsg.uint8_to_bytes(m)),
                                 latched_qos(256))
        pub_ann = node.create_publisher(String, 'ptr/episode', latched_qos(100))
        pub_data = node.create_publisher(UInt8MultiArray, 'ptr/episode_data', latched_qos(64))

        def spin_until(cond, timeout):
            end = time.monotonic() + timeout
            while not cond() and time.monotonic() < end and proc.poll() is None:
                ex.spin_once(timeout_sec=0.1)
            return cond()

        assert spin_until(lambda: pub_ann.get_subscription_count() > 0
                          and pub_data.get_subscription_count() > 0, 60), \
            proc.stdout.read().decode() if proc.poll() is not None else 'no subscriber'
        # 1) a file episode, written into the trainer's online_dir (shared disk): 4 steps x utd 2
        # = 8 updates -> versions 1 and 2.
        ann, _ = EpisodeWriter(tmp / 'online', 'robot1').write(traj('OpenDoor', 50, length=4), 1)
        pub_ann.publish(ann.to_msg())
        asm = weights.ChunkAssembler()
        versions = []

        def collect():
            while packets:
                done = asm.add(weights.decode(packets.pop(0), KEY.encode()))
                if done is not None:
                    versions.append(done)
            return versions
        assert spin_until(lambda: len(collect()) >= 2, 60)
        # 2) an inline episode (packets first, announcement after): 3 steps -> 6 more updates.
        writer = EpisodeWriter(tmp / 'elsewhere', 'robot2', 'inline', KEY.encode(), 3000)
        ann2, sent = writer.write(traj('OpenDoor', 51, length=3), 1)
        assert len(sent) > 1
        import shutil
        shutil.rmtree(ann2.path)  # the trainer must not need the robot's folder
        for packet in sent:
            pub_data.publish(rosmsg.bytes_to_uint8(packet, UInt8MultiArray()))
        pub_ann.publish(ann2.to_msg())
        assert spin_until(lambda: len(collect()) >= 3, 60)
        assert [v.serial for v in versions[:3]] == [1, 2, 3]
        policy = DeployablePolicy.load(ckpt)
        assert versions[2].label == policy.fingerprint
        assert policy.load_state_bytes(versions[2].payload) == 3
        # The online buffer on disk holds both episodes, once each, under the robots' names.
        pub_ann.publish(ann.to_msg())  # a repeated announcement is ignored
        for packet in sent:  # ... and so is a repeated inline episode
            pub_data.publish(rosmsg.bytes_to_uint8(packet, UInt8MultiArray()))
        status = []
        node.create_subscription(String, 'ptr/trainer_status',
                                 lambda m: status.append(json.loads(m.data)), latched_qos())
        spin_until(lambda: False, 2.0)
        shards = sorted(p.name for p in (tmp / 'online' / 'OpenDoor').iterdir())
        assert shards == ['shard-robot1000000', 'shard-robot2000000']
        assert sorted(p.name for p in (tmp / 'online').iterdir()) == ['OpenDoor']
        assert status and status[-1]['episodes'] == 2
        assert status[-1]['runs'] == {'robot1': 1, 'robot2': 1}
    finally:
        rc, out = stop_process(proc)
        rclpy.shutdown(context=ctx)
    assert rc == 0, out
    assert 'published weights v3' in out


def test_trainer_killed_and_restarted_loses_and_recounts_nothing(setup):
    """SIGKILL mid-run, an episode stored while it is down, a restart: the trainer resumes from
    its newest checkpoint, counts the two episodes once each, and its versions go on (the
    policy node only takes versions newer than the one it runs)."""
    import signal

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from std_msgs.msg import String, UInt8MultiArray

    from ptr_core import rosmsg, weights
    from ptr_ros.episode_transfer import EpisodeWriter
    from ptr_ros.qos import latched_qos

    tmp, ckpt = setup
    domain = private_domain()
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), PTR_WEIGHTS_KEY=KEY)
    cmd = trainer_command(tmp, ckpt, f'checkpoint_dir:={tmp / "ckpts"}')
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    procs = []
    try:
        node = rclpy.create_node('test_restart', context=ctx)
        ex = SingleThreadedExecutor(context=ctx)
        ex.add_node(node)
        versions, status = [], []
        node.create_subscription(UInt8MultiArray, 'ptr/policy_weights', lambda m: versions.append(
            weights.decode(rosmsg.uint8_to_bytes(m), KEY.encode()).serial), latched_qos(256))
        node.create_subscription(String, 'ptr/trainer_status',
                                 lambda m: status.append(json.loads(m.data)), latched_qos())
        pub = node.create_publisher(String, 'ptr/episode', latched_qos(100))
        robot = EpisodeWriter(tmp / 'online', 'robot1')

        def spin_until(cond, timeout=60):
            end = time.monotonic() + timeout
            while not cond() and time.monotonic() < end:
                ex.spin_once(timeout_sec=0.1)
            return cond()
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT))
        pub.publish(robot.write(traj('OpenDoor', 60, length=4), 1)[0].to_msg())
        assert spin_until(lambda: 2 in versions), 'first trainer published nothing'
        # each version is checkpointed right after it is sent
        assert spin_until(lambda: (tmp / 'ckpts' / 'online_0000008.pt').is_file(), 30)
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(30)
        pub.publish(robot.write(traj('OpenDoor', 61, length=3), 2)[0].to_msg())
        status.clear()
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT))
        assert spin_until(lambda: status and status[-1]['updates'] >= 14, 90), status[-1:]
        st = status[-1]
        assert (st['episodes'], st['env_steps'], st['runs']) == (2, 7, {'robot1': 2})
        assert spin_until(lambda: 3 in versions)
        assert sorted(set(versions)) == [1, 2, 3]  # continued, not restarted at 1
    finally:  # whatever failed, no trainer outlives the test
        outs = [stop_process(p) if p.poll() is None else (p.returncode, '') for p in procs]
        rclpy.shutdown(context=ctx)
    rc, out = outs[-1]
    assert rc == 0, out
    assert 'resumed at update 8, weights v2, 1 episodes counted' in out
