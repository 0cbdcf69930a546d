"""Control latency through ROS 2: image published -> action received, across processes.

Starts the installed policy node (lock-step mode, default CPU network of the ptr_sim_cpu preset,
untrained weights: latency does not depend on their values) as its own process on a private DDS
domain, then from this process publishes camera/image_raw + robot/state (stamp-tagged) and waits
for the action tagged with the same stamp, one tick at a time, N times. Peer measured in the same
run: the bare DeployablePolicy.act() of the same network in-process, interleaved tick by tick with
the ROS ticks so both see the same machine load; the ratio shows what ROS adds. Also: the weights
round trip (signed packet published -> ptr/policy_version reports it running).

    .venv/bin/python bench/control_latency.py [--ticks 1000] [--image-size 64] [--swaps 5]
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1e3, q))


def make_checkpoint(path: Path, image_size: int):
    from ptr_core.agent import Agent
    from ptr_core.config import parse_overrides, preset
    from ptr_core.task_registry import TaskRegistry
    cfg = preset('ptr_sim_cpu')
    parse_overrides(cfg, [f'network.image_size={image_size}'])
    agent = Agent(cfg, tasks=TaskRegistry.create(['OpenDoor'], 3).to_dict(),
                  target_task='OpenDoor')
    agent.save(path)
    return agent


def timed_act(policy, image, state) -> float:
    t = time.perf_counter()
    policy.act(image, state)
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--ticks', type=int, default=1000)
    ap.add_argument('--image-size', type=int, default=64)
    ap.add_argument('--swaps', type=int, default=5)
    ap.add_argument('--warmup', type=int, default=30)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    import rclpy
    from ptr_ros.contracts import PolicyVersion
    from ptr_ros.domains import private_domain
    from ptr_ros.qos import action_qos, latched_qos, sensor_qos
    from rclpy.node import Node
    from sensor_msgs.msg import Image
    from std_msgs.msg import Float32MultiArray, MultiArrayDimension, String, UInt8MultiArray

    from ptr_bringup.graphs import NodeSpec
    from ptr_bringup.launcher import find_executable, node_command
    from ptr_bringup.rosenv import ensure_ros_env
    from ptr_core import rosmsg, weights
    from ptr_core.policy import DeployablePolicy
    tmp = Path(tempfile.mkdtemp(prefix='ptr-latency-'))
    ckpt = tmp / 'policy.pt'
    agent = make_checkpoint(ckpt, args.image_size)
    peer = DeployablePolicy.load(ckpt)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (args.image_size, args.image_size, 3), dtype=np.uint8)
    state = np.array([0.3, 0.0, 0.2, 0.0, 0.0, 0.0, 0.5], np.float32)

    ensure_ros_env()
    domain = private_domain()
    key = 'bench-key'
    spec = NodeSpec('ptr_policy', 'policy_node', 'policy_node', parameters={
        'checkpoint': str(ckpt), 'clock_mode': 'lockstep', 'weights_key': key,
        'torch_threads': 1})
    cmd = node_command(spec, find_executable(spec.package, spec.executable))
    log = open(tmp / 'policy_node.log', 'w')
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env=dict(os.environ, ROS_DOMAIN_ID=str(domain)))
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    node = Node('latency_bench', context=ctx)
    executor = rclpy.executors.SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    got: dict[int, float] = {}
    versions: list[tuple[float, int]] = []
    node.create_subscription(Float32MultiArray, 'robot/action',
                             lambda m: got.setdefault(rosmsg.stamp_tag(m), time.perf_counter()),
                             action_qos())
    node.create_subscription(String, 'ptr/policy_version', lambda m: versions.append(
        (time.perf_counter(), PolicyVersion.from_msg(m).version)), latched_qos())
    pub_img = node.create_publisher(Image, 'camera/image_raw', sensor_qos())
    pub_state = node.create_publisher(Float32MultiArray, 'robot/state', sensor_qos())
    pub_w = node.create_publisher(UInt8MultiArray, 'ptr/policy_weights', latched_qos())

    def spin_until(cond, limit: float) -> bool:
        end = time.perf_counter() + limit
        while not cond() and time.perf_counter() < end:
            executor.spin_once(timeout_sec=0.001)
        return cond()

    def tick(stamp: int) -> float | None:
        """Publish one observation; seconds until its action arrives (None: lost, resent)."""
        img = rosmsg.numpy_to_image(image, 'rgb8', Image())
        rosmsg.ns_to_stamp(stamp, img.header.stamp)
        st = rosmsg.tag_stamp(rosmsg.numpy_to_float32(state, Float32MultiArray()), stamp,
                              MultiArrayDimension)
        t0 = time.perf_counter()
        pub_state.publish(st)
        pub_img.publish(img)
        if not spin_until(lambda: stamp in got, 2.0):
            return None
        return got[stamp] - t0

    code = 0
    try:
        print(f'policy node: {" ".join(cmd[:1])} (domain {domain}); waiting for it ...')
        if not spin_until(lambda: versions, 120):
            raise RuntimeError('policy node did not come up:\n' + (tmp / 'policy_node.log')
                               .read_text()[-2000:])
        stamp = 1
        while tick(stamp) is None:  # discovery of the sensor topics
            stamp += 1
        for _ in range(args.warmup):
            stamp += 1
            tick(stamp)
            timed_act(peer, image, state)
        lat, bare, lost = [], [], 0
        load = os.getloadavg()[0]
        for _ in tqdm(range(args.ticks), desc='ROS ticks + bare act()'):
            stamp += 1
            dt = tick(stamp)
            if dt is None:
                lost += 1
            else:
                lat.append(dt)
            bare.append(timed_act(peer, image, state))
        load = (load + os.getloadavg()[0]) / 2

        payload = agent.policy_state_bytes()
        swaps = []
        for v in tqdm(range(1, args.swaps + 1), desc='weight swaps'):
            [packet] = weights.encode(payload, v, agent.fingerprint, key.encode())
            msg = rosmsg.bytes_to_uint8(packet, UInt8MultiArray())
            t0 = time.perf_counter()
            pub_w.publish(msg)
            if not spin_until(lambda: versions and versions[-1][1] == v, 30):  # noqa: B023
                raise RuntimeError(f'weights version {v} never reported running')
            swaps.append(versions[-1][0] - t0)
            for _ in range(5):  # the control path keeps running between swaps
                stamp += 1
                tick(stamp)
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            code = 1

    print(f'\ncontrol latency, {args.image_size}x{args.image_size} rgb8, ptr_sim_cpu policy '
          f'({sum(p.numel() for p in agent.policy.parameters()) / 1e6:.2f} M params), '
          f'1 torch thread, {os.cpu_count()} CPUs, load average {load:.1f} during the run')
    print(f'  {"":34s} {"p50 ms":>8s} {"p99 ms":>8s} {"max ms":>8s}')
    print(f'  {"ROS: image published -> action":34s} {pct(lat, 50):8.2f} {pct(lat, 99):8.2f} '
          f'{max(lat) * 1e3:8.2f}   ({len(lat)} ticks, {lost} lost)')
    print(f'  {"peer: bare act() in-process":34s} {pct(bare, 50):8.2f} {pct(bare, 99):8.2f} '
          f'{max(bare) * 1e3:8.2f}')
    print(f'  ROS / bare at p50: {pct(lat, 50) / pct(bare, 50):.2f}x '
          f'(+{pct(lat, 50) - pct(bare, 50):.2f} ms transport, pairing, conversion)')
    goal = 'met' if pct(lat, 99) < 50 else 'NOT met'
    print(f'  goal p99 < 50 ms: {goal}')
    print(f'weights round trip (publish -> policy_version reports it), payload '
          f'{len(payload) / 1e6:.2f} MB, {len(swaps)} swaps: median '
          f'{np.median(swaps) * 1e3:.1f} ms, max {max(swaps) * 1e3:.1f} ms')
    return code


if __name__ == '__main__':
    sys.exit(main())
