"""Ctrl-C of the whole online graph, with the signals exactly as `ros2 launch` delivers them.

A terminal's Ctrl-C sends SIGINT to its foreground process group, which under `ros2 launch` holds
launch and every node; launch then sends each node SIGINT again, SIGTERM `sigterm_timeout` (5 s)
later if it still runs, then SIGKILL. Here `ptr launch` starts every node in a process group of
its own, so the test plays the terminal (SIGINT to the launcher and to every node's group at
once), the launcher plays launch (SIGINT to each node, SIGTERM after `--shutdown-timeout 5`),
and the test itself sends SIGTERM to any node alive 5 s after the first SIGINT.

The contract (issue 22): every node exits 0, quietly (no rosout error, no C++ abort, no
traceback), within 5 s of the first SIGINT, and the trainer writes its final checkpoint.

Timing this test needs, and waits for instead of assuming: the stop must land while the trainer
is training (the case that aborted it). The trainer is the sim CPU preset's agent (about 0.4 s
per update here, slower under load); one 6-step episode earns it 24 updates at utd 4, weights go
out every 4 updates, and the episode manager waits for the trainer before the next episode, so
once weights v1 are out about 20 updates are still due. The test stops the graph then, and
checks afterwards that it did land mid-training: the final checkpoint still owes updates.
"""
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from ptr_ros.domains import private_domain
from ptr_ros.testing import process_alive

pytestmark = [pytest.mark.ros, pytest.mark.slow]
IMAGE = 48
SIGTERM_AFTER_S = 5.0  # launch's default sigterm_timeout
NODES = ('sim_bridge', 'safety_filter', 'policy_node', 'reward_node', 'episode_manager',
         'trainer_node')


def _preset_agent(path):
    """The sim CPU preset's agent (not the tiny test one): its updates take long enough that
    a stop lands inside a slice of them, as it does on a real run."""
    from ptr_core.agent import Agent
    from ptr_core.config import preset
    from ptr_core.task_registry import TaskRegistry
    cfg = preset('ptr_sim_cpu')
    cfg.network.image_size, cfg.network.num_tasks = IMAGE, 4
    tasks = TaskRegistry.create(['CloseDrawer', 'OpenDoor']).to_dict()
    return Agent(cfg, tasks, 'OpenDoor').save(path)


def _wait_for(predicate, limit, proc, log_path, what):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if predicate():
            return
        assert proc.poll() is None, f'the graph died:\n{log_path.read_text()[-3000:]}'
        time.sleep(0.1)
    raise AssertionError(f'{what}: not within {limit} s\n{log_path.read_text()[-3000:]}')


def _ctrl_c_like_ros2_launch(launcher, pids: dict[str, int]) -> dict[str, float]:
    """The terminal's SIGINT to the launcher and every node's group, SIGTERM to the nodes still
    alive SIGTERM_AFTER_S later; returns each node's seconds from the first SIGINT to its end."""
    t0 = time.monotonic()
    for pid in pids.values():
        os.killpg(pid, signal.SIGINT)
    launcher.send_signal(signal.SIGINT)  # it sends every node SIGINT again, as launch does
    ended: dict[str, float] = {}
    termed = False
    while len(ended) < len(pids) and time.monotonic() - t0 < 3 * SIGTERM_AFTER_S:
        for name, pid in pids.items():
            if name not in ended and not process_alive(pid):
                ended[name] = time.monotonic() - t0
        if not termed and time.monotonic() - t0 >= SIGTERM_AFTER_S:
            termed = True
            for name, pid in pids.items():
                if name not in ended:
                    os.killpg(pid, signal.SIGTERM)
        time.sleep(0.02)
    return ended


def test_ctrl_c_stops_every_node_of_the_online_graph_cleanly_within_5_s(tmp_path):
    from ptr_bringup.testing import online_graph_inputs
    torch.set_num_threads(1)
    inputs = online_graph_inputs(tmp_path, IMAGE)
    agent = _preset_agent(tmp_path / 'preset.pt')
    (tmp_path / 'online.yaml').write_text('warmup_episodes: 0\n')
    run_dir = tmp_path / 'run'
    env = dict(os.environ, ROS_DOMAIN_ID=str(private_domain()), PYTHONUNBUFFERED='1')
    log_path = tmp_path / 'launch.log'
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(
            [sys.executable, '-m', 'ptr_bringup.launcher', 'online_finetune',
             'clock:=lockstep', f'image_size:={IMAGE}', f'policy_ckpt:={agent}',
             f'reward_ckpt:={inputs["reward_ckpt"]}', f'prior_data:={inputs["prior_data"]}',
             f'target_data:={inputs["target_data"]}', f'run_dir:={run_dir}',
             'weights_key:=ctrl-c-key', 'horizon:=6', 'utd:=4.0', 'publish_every:=4',
             f'online_config:={tmp_path / "online.yaml"}',
             '--shutdown-timeout', str(SIGTERM_AFTER_S)],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        _wait_for(lambda: 'published weights v1 ' in log_path.read_text(), 300, proc,
                  log_path, 'the trainer training (weights v1)')
        text = log_path.read_text()
        pids = {name: int(pid) for name, pid in re.findall(r'started (\S+) \(pid (\d+)\)', text)}
        assert sorted(pids) == sorted(NODES), text[-3000:]
        ended = _ctrl_c_like_ros2_launch(proc, pids)
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    text = log_path.read_text()
    tail = text[text.find('SIGINT: shutting down') - 1500:]
    # every node gone within 5 s of the first SIGINT, each with exit code 0
    assert set(ended) == set(NODES) and max(ended.values()) < SIGTERM_AFTER_S, (ended, tail)
    (exits,) = re.findall(r'\[ptr launch\] exits: (.*)', text)
    codes = dict(re.findall(r'(\w+) (-?\d+) \(', exits))
    assert codes == {name: '0' for name in NODES}, (exits, tail)
    assert code == 0 and 'still running' not in text, tail
    for bad in ('terminate called', 'rosout', 'Traceback', 'KeyboardInterrupt'):
        assert bad not in text, tail
    # the trainer kept its work: a final checkpoint, written at the stop ...
    said = re.findall(r'stopped: checkpoint at update (\d+)', text)
    assert said, tail
    final = run_dir / 'checkpoints' / f'online_{int(said[0]):07d}.pt'
    assert final.is_file(), sorted(p.name for p in (run_dir / 'checkpoints').glob('*'))
    # ... and the stop landed mid-training (the premise): updates were still owed
    progress = torch.load(final, map_location='cpu', weights_only=False)['extra']['progress']
    assert progress['credit'] >= 1.0, progress
