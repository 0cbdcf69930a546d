"""Soak test: whether anything grows or slows down over a long run.

1. The trainer's online buffer with many stored episodes (each a one-episode shard, as the robot
   writes them): the first scan (a trainer (re)starting on the folder), the cost of a scan that
   finds nothing new (every announcement triggers one), and resident memory, at N/10 and at N
   episodes in the same run: the ratio says how start-up and per-announcement cost scale.
2. The policy node under a lock-step image stream (an hour at 30 Hz is 108,000 frames; the
   default is shorter): resident memory and latency over the first and the last window of
   ticks, side by side.

    .venv/bin/python bench/soak.py [--episodes 10000] [--ticks 20000] [--window 2000]
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def rss_mb(pid: int | None = None) -> float:
    """Resident memory now (MB) of this process or of `pid`."""
    with open(f'/proc/{pid or "self"}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return float('nan')


def write_episodes(root: Path, n: int, start: int, steps: int, size: int) -> None:
    from ptr_core.data import DatasetWriter, Trajectory
    rng = np.random.default_rng(start)
    with DatasetWriter(root, shard_episodes=1, prefix='soak') as w:
        for _ in range(n):
            w.add(Trajectory.from_arrays(
                rng.integers(0, 256, (steps + 1, size, size, 3), np.uint8),
                rng.normal(size=(steps + 1, 7)), rng.uniform(-1, 1, (steps, 7)),
                task='OpenDoor', success=bool(rng.integers(2))))


def buffer_soak(n: int, steps: int, size: int) -> list[tuple[int, float, float, float]]:
    """(episodes, first scan s, empty rescan ms, RSS MB after loading) at n/10 and n."""
    from ptr_core.data.online_buffer import OnlineBuffer
    from ptr_core.task_registry import TaskRegistry
    reg = TaskRegistry.create(['OpenDoor'])
    rows = []
    with tempfile.TemporaryDirectory(prefix='ptr-soak-') as tmp:
        root = Path(tmp) / 'online'
        written = 0
        for target in (n // 10, n):
            write_episodes(root, target - written, written, steps, size)
            written = target
            before = rss_mb()
            t0 = time.perf_counter()
            buf = OnlineBuffer(root, reg, load_existing=False)
            loaded = len(buf.refresh())
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            reps = 5
            for _ in range(reps):
                assert buf.refresh() == []
            rescan = (time.perf_counter() - t0) / reps
            rows.append((loaded, first, rescan * 1e3, rss_mb() - before))
            del buf
    return rows


def buffer_report(rows: list[tuple[int, float, float, float]], args) -> None:
    print(f'part 1: online buffer of one-episode shards ({args.steps} steps, {args.size} px)')
    print(f'  {"episodes":>9s} {"first scan s":>13s} {"per episode ms":>15s} '
          f'{"empty rescan ms":>16s} {"RSS MB":>8s}')
    for n, first, rescan, rss in rows:
        print(f'  {n:9d} {first:13.2f} {first / n * 1e3:15.3f} {rescan:16.1f} {rss:8.1f}')
    (n0, f0, r0, m0), (n1, f1, r1, m1) = rows
    print(f'  ratio {n1 // n0}x episodes: first scan {f1 / f0:.1f}x, empty rescan '
          f'{r1 / r0:.1f}x, memory {m1 / max(m0, 1e-9):.1f}x')


def policy_soak(ticks: int, window: int) -> int:
    """The node's resident memory and latency over the first and the last `window` ticks."""
    import torch
    from policy_rig import PolicyRig

    from ptr_core.progress import progress
    torch.set_num_threads(1)
    rig = PolicyRig(64, prefix='ptr-soak-')
    lat: list[float] = []
    bare: list[float] = []  # the peer: the same act() in-process, interleaved tick by tick
    rss: list[tuple[int, float]] = []
    lost = 0
    try:
        rig.start()
        for k in progress(range(ticks), desc='policy node ticks', unit='tick'):
            dt = rig.tick()
            if dt is None:
                lost += 1
            lat.append(np.nan if dt is None else dt)
            bare.append(rig.bare_act())
            if k % 200 == 0 or k == ticks - 1:
                rss.append((k, rss_mb(rig.proc.pid)))
    finally:
        code = rig.close()
    lat_ms, bare_ms = np.asarray(lat) * 1e3, np.asarray(bare) * 1e3
    first, last = lat_ms[:window], lat_ms[-window:]
    m_first = np.mean([m for k, m in rss if k < window])
    m_last = np.mean([m for k, m in rss if k >= ticks - window])
    print(f'part 2: policy node, {ticks} lock-step ticks of a 64 px image '
          f'({ticks / 30 / 60:.1f} min of a 30 Hz camera), {lost} lost')
    b_first, b_last = np.median(bare_ms[:window]), np.median(bare_ms[-window:])
    print(f'  {"window":>14s} {"p50 ms":>8s} {"p99 ms":>8s} {"bare p50":>9s} {"RSS MB":>8s}')
    for name, xs, b, m in (('first', first, b_first, m_first), ('last', last, b_last, m_last)):
        print(f'  {name + f" {window}":>14s} {np.nanpercentile(xs, 50):8.2f} '
              f'{np.nanpercentile(xs, 99):8.2f} {b:9.2f} {m:8.1f}')
    drift = np.nanpercentile(last, 50) / np.nanpercentile(first, 50)
    print(f'  last / first: p50 {drift:.2f}x (bare act() {b_last / b_first:.2f}x: the machine), '
          f'RSS {m_last / m_first:.3f}x ({m_last - m_first:+.1f} MB)')
    return code


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--episodes', type=int, default=10000, help='stored episodes (part 1)')
    ap.add_argument('--steps', type=int, default=10, help='transitions per stored episode')
    ap.add_argument('--size', type=int, default=32, help='stored image size (px)')
    ap.add_argument('--ticks', type=int, default=20000, help='policy node ticks (part 2; 0: skip)')
    ap.add_argument('--window', type=int, default=2000, help='ticks per compared window')
    args = ap.parse_args(argv)

    if args.episodes >= 10:
        buffer_report(buffer_soak(args.episodes, args.steps, args.size), args)
    code = policy_soak(args.ticks, args.window) if args.ticks else 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f'peak RSS of this process: {peak:.0f} MB')
    return code


if __name__ == '__main__':
    os.environ.setdefault('PYTHONUNBUFFERED', '1')
    sys.exit(main())
