"""Issue 9 end to end: a scripted operator types into `ptr launch teleop_record` (the path a
person's keys take), ten episodes become ten MCAP bags, the bags convert into a dataset, a PTR
checkpoint is fine-tuned on it and evaluated in the sim. A small budget: it checks the pipeline
(every number that passes from one stage to the next), not the success rate.
"""
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
import yaml

from ptr_core.data import Dataset, DatasetWriter, Trajectory
from ptr_ros.domains import private_domain

pytestmark = [pytest.mark.slow, pytest.mark.ros]
torch.set_num_threads(1)
IMAGE = 64  # the sim bridge's default camera size, which the policy is trained at
TINY_YAML = f"""preset: ptr_sim_cpu
network: {{image_size: {IMAGE}, encoder: cog_conv, cog_channels: 4, bottleneck_dim: 16,
          q_hidden: [16, 16], policy_hidden: [16], num_tasks: 4}}
train: {{batch_size: 8, log_every: 1, ckpt_every: 2, steps: 2}}
"""
# Episode k: which motion key the operator taps (one tap per control step), how often, and the
# verdict. One episode is discarded: 11 started, 10 kept.
PLAN = [('w', 4, 'success'), ('f', 3, 'failure'), ('a', 5, 'success'), ('x', 0, 'discard'),
        ('r', 2, 'failure'), ('w', 6, 'success'), ('d', 3, 'success'), ('s', 2, 'failure'),
        ('wf', 3, 'success'), ('c', 1, 'success'), ('f', 4, 'failure')]
AXIS = {'w': (0, 1), 's': (0, -1), 'a': (1, 1), 'd': (1, -1), 'r': (2, 1), 'f': (2, -1)}


class Operator:
    """Reads the graph's output lines and types keys into its stdin, like a person would."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in iter(self.proc.stdout.readline, ''):
            self.lines.put(line)

    def type(self, keys: str) -> None:
        self.proc.stdin.write(keys)
        self.proc.stdin.flush()

    def wait_for(self, *patterns: str, timeout: float = 60.0) -> None:
        """Until a line matching each pattern has come (in any order: the nodes start in
        any order)."""
        left = list(patterns)
        deadline = time.monotonic() + timeout
        while left and time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.log.append(line)
            left = [p for p in left if not re.search(p, line)]
        if left:
            raise AssertionError(f'no line matching {left}; last lines:\n'
                                 + ''.join(self.log[-30:]))

    def wait_any(self, *patterns: str, timeout: float = 60.0) -> str:
        """The first of the patterns a line matches."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            self.log.append(line)
            for p in patterns:
                if re.search(p, line):
                    return p
        raise AssertionError(f'no line matching any of {patterns}; last lines:\n'
                             + ''.join(self.log[-30:]))

    def episode(self, k: int, keys: str, taps: int, verdict: str) -> None:
        started = rf'teleop: episode {k} started'
        for _ in range(10):  # as a person would: the robot was not up yet, press n again
            self.type('n')
            if self.wait_any(started, 'robot/reset is not available',
                             'no bag recorder is listening') == started:
                break
            time.sleep(1.0)
        time.sleep(0.4)
        for _ in range(taps):
            self.type(keys)
            time.sleep(0.2)  # one tap per control step (5 Hz)
        time.sleep(0.8)  # a few still steps: the episode's last action is a hold
        self.type({'success': '1', 'failure': '0', 'discard': 'x'}[verdict])
        self.wait_for(rf'teleop: episode {k} {verdict}: ')


def _record(tmp_path, out):
    env = dict(os.environ, ROS_DOMAIN_ID=str(private_domain()), PYTHONUNBUFFERED='1')
    proc = subprocess.Popen(
        [sys.executable, '-m', 'ptr_bringup.launcher', 'teleop_record', 'task:=OpenDoor',
         f'out:={out}', 'seed:=0', 'notes:=scripted operator'],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=env, cwd=tmp_path, start_new_session=True)
    op = Operator(proc)
    try:
        op.wait_for(r'n    new episode', r'recording episodes into', r'sim bridge: task')
        for k, (keys, taps, verdict) in enumerate(PLAN):
            op.episode(k, keys, taps, verdict)
        op.type('q')
        op.wait_for(r'teleop finished; shutting the graph down')
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
    return op


def _check_bags_with_an_independent_reader(bags):
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory
    kept = [p for p in PLAN if p[2] != 'discard']
    assert len(bags) == len(kept) == 10
    for bag, (_, taps, verdict) in zip(bags, kept):
        meta = yaml.safe_load((bag / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
        assert meta['custom_data']['ptr.outcome'] == verdict
        assert meta['custom_data']['ptr.notes'] == 'scripted operator'
        (mcap_file,) = bag.glob('*.mcap')
        with open(mcap_file, 'rb') as f:
            msgs = [(ch.topic, schema.name, m) for schema, ch, _, m in
                    make_reader(f, decoder_factories=[DecoderFactory()]).iter_decoded_messages()]
        topics = {}
        for topic, schema, _ in msgs:
            topics.setdefault(topic, (schema, 0))
            topics[topic] = (schema, topics[topic][1] + 1)
        assert topics['camera/image_raw'][0] == 'sensor_msgs/msg/Image'
        assert topics['robot/action'][0] == 'std_msgs/msg/Float32MultiArray'
        n_img, n_state, n_act = (topics[t][1] for t in
                                 ('camera/image_raw', 'robot/state', 'robot/action'))
        assert n_img == n_state and n_act >= taps + 2 and abs(n_img - n_act) <= 2, topics
        events = [json.loads(m.data)['event'] for t, _, m in msgs if t == 'teleop/episode']
        assert events == ['start', verdict]
        image = next(m for t, _, m in msgs if t == 'camera/image_raw')
        assert (image.encoding, image.height, image.width) == ('rgb8', IMAGE, IMAGE)


def _prior(root):
    rng = np.random.default_rng(0)
    with DatasetWriter(root) as w:
        for task in ('PickA', 'PickB'):
            for e in range(3):
                w.add(Trajectory.from_arrays(
                    rng.integers(0, 256, (6, IMAGE, IMAGE, 3), dtype=np.uint8),
                    rng.normal(size=(6, 7)).astype(np.float32),
                    rng.uniform(-0.9, 0.9, (5, 7)).astype(np.float32), task=task,
                    success=bool(e % 2)))
    return root


def test_scripted_operator_to_bags_to_finetuned_policy(tmp_path, capsys):
    from ptr_core.checkpoint import latest
    from ptr_core.cli import finetune_main, pretrain_main
    from ptr_core.data.data_cli import main as data_main
    from ptr_sim.evaluate import main as eval_main

    out = tmp_path / 'demos'
    _record(tmp_path, out)
    bags = sorted(p for p in out.iterdir() if not p.name.startswith('.'))
    assert not any((out / '.partial').iterdir())  # nothing half-written left behind
    _check_bags_with_an_independent_reader(bags)

    demos = tmp_path / 'demos_ds'
    assert data_main(['from-bags', str(out), '--task', 'OpenDoor', '--out', str(demos)]) == 0
    eps = list(Dataset(demos)['OpenDoor'])
    kept = [p for p in PLAN if p[2] != 'discard']
    assert len(eps) == 10
    for ep, (keys, taps, verdict) in zip(sorted(eps, key=lambda e: e.meta['bag']), kept):
        assert ep.success == (verdict == 'success')
        assert ep.rewards.sum() == float(verdict == 'success') and ep.terminals[-1] == ep.success
        for key in keys.replace('c', ''):  # every tap is in the data: 0.5 per tap on its axis
            axis, sign = AXIS[key]
            assert ep.actions[:, axis].sum() * sign == pytest.approx(0.5 * taps), key
        assert ep.actions[-1, :6].tolist() == [0.0] * 6
        assert ep.actions[-1, 6] == (0.0 if 'c' in keys else 1.0)  # the gripper as left
    capsys.readouterr()
    assert data_main(['info', str(demos)]) == 0
    assert re.search(r'OpenDoor\s+10\s', capsys.readouterr().out)

    cfg = tmp_path / 'tiny.yaml'
    cfg.write_text(TINY_YAML)
    prior = _prior(tmp_path / 'prior')
    assert pretrain_main(['--data', str(prior), '--out', str(tmp_path / 'pre'), '--config',
                          str(cfg), '--no-progress']) == 0
    ft = tmp_path / 'ft'
    assert finetune_main(['--ckpt', str(latest(tmp_path / 'pre')), '--data', str(prior),
                          '--target', str(demos), '--target-task', 'OpenDoor', '--out', str(ft),
                          '--steps', '2', '--no-progress', '--no-tensorboard']) == 0
    result = tmp_path / 'eval.json'
    assert eval_main(['--ckpt', str(latest(ft)), '--task', 'OpenDoor', '--episodes', '2',
                      '--quiet', '--json', str(result)]) == 0
    res = json.loads(result.read_text())
    assert res['episodes'] == 2 and 0 <= res['successes'] <= 2
