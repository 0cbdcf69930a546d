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
import sys
from pathlib import Path

import numpy as np
import torch

from ptr_core.progress import progress

sys.path.insert(0, str(Path(__file__).resolve().parent))
from policy_rig import PolicyRig  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1e3, q))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--ticks', type=int, default=1000)
    ap.add_argument('--image-size', type=int, default=64)
    ap.add_argument('--swaps', type=int, default=5)
    ap.add_argument('--warmup', type=int, default=30)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    rig = PolicyRig(args.image_size, prefix='ptr-latency-')
    agent = rig.agent
    code = 0
    try:
        print(f'policy node: {rig.cmd[0]} (domain {rig.domain}); waiting for it ...')
        rig.start()
        for _ in range(args.warmup):
            rig.tick()
            rig.bare_act()
        lat, bare, lost = [], [], 0
        load = os.getloadavg()[0]
        for _ in progress(range(args.ticks), desc='ROS ticks + bare act()'):
            dt = rig.tick()
            if dt is None:
                lost += 1
            else:
                lat.append(dt)
            bare.append(rig.bare_act())
        load = (load + os.getloadavg()[0]) / 2
        payload = agent.policy_state_bytes()
        swaps = []
        for v in progress(range(1, args.swaps + 1), desc='weight swaps'):
            swaps.append(rig.swap(v, payload))
            for _ in range(5):  # the control path keeps running between swaps
                rig.tick()
    finally:
        code = rig.close()

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
