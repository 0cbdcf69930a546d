"""Sim throughput on one core: env steps/s at 64x64, with the render alone and the physics alone
measured in the same run (so the ratios say where the time goes), then per-task scripted success
rates.

    .venv/bin/python bench/sim_throughput.py [--steps 300] [--episodes 20] [--size 64] [--cpu 0]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def throughput(task: str, size: int, steps: int, noise: float) -> dict[str, float]:
    """Per-step seconds of scripted-policy env steps, and of their parts in the same episodes.

    Times are process CPU time (a busy shared machine does not inflate them as it does wall
    time); the whole step is also timed on the wall clock. Each seeded episode runs twice, back
    to back (same states and actions: the sim is deterministic): once timing env.step as a user
    calls it, once timing its parts one by one: physics + IK (world.step), the render, and the
    IK solve alone. Interleaving the two keeps both under the same machine load.
    """
    import ptr_sim
    from ptr_sim.env import SUBSTEPS
    from ptr_sim.scripted import make_scripted_policy

    env = ptr_sim.make_env(task, image_size=size)
    u = env.unwrapped
    clock = time.process_time  # CPU time of this process: what one dedicated core would take
    parts = {'env_step': 0.0, 'env_step_wall': 0.0, 'physics_ik': 0.0, 'render': 0.0, 'ik': 0.0,
             'policy': 0.0}
    counts = {'whole': 0, 'parts': 0}
    ep = 0
    while min(counts.values()) < steps:
        for phase in ('whole', 'parts'):
            obs, _ = env.reset(seed=ep)
            policy = make_scripted_policy(task, env, noise, np.random.default_rng(ep))
            end = False
            while not end:
                t0 = clock()
                a = policy(obs)
                t1 = clock()
                if phase == 'whole':
                    w1 = time.perf_counter()
                    obs, _, term, trunc, _ = env.step(a)
                    parts['env_step_wall'] += time.perf_counter() - w1
                    parts['env_step'] += clock() - t1
                    parts['policy'] += t1 - t0
                    end = term or trunc
                else:
                    arm = u.world.arm
                    t2 = clock()
                    arm.solve_ik(arm.target_xyz, arm.target_rpy)
                    t3 = clock()
                    u.world.step(a, SUBSTEPS)
                    t4 = clock()
                    obs = {'image': u.camera.render(), 'state': arm.state()}
                    t5 = clock()
                    parts['ik'] += t3 - t2
                    parts['physics_ik'] += t4 - t3
                    parts['render'] += t5 - t4
                    u._t += 1
                    end = u.is_success() or u._t >= u.horizon
                counts[phase] += 1
        ep += 1
    env.close()
    return {k: v / counts['whole' if k in ('env_step', 'env_step_wall', 'policy') else 'parts']
            for k, v in parts.items()}


def success_rates(episodes: int, size: int, noise: float) -> list[tuple[str, float, float]]:
    import ptr_sim
    from ptr_core.progress import progress
    from ptr_sim.collect import rollout
    from ptr_sim.scripted import make_scripted_policy
    from ptr_sim.tasks import TASKS

    rows = []
    for task in progress(TASKS, desc='scripted success', unit='task'):
        env = ptr_sim.make_env(task, image_size=size)
        ok, lengths = 0, []
        for ep in range(episodes):
            traj = rollout(env, make_scripted_policy(task, env, noise, np.random.default_rng(ep)),
                           task, ep, noise)
            ok += traj.success
            lengths.append(len(traj))
        env.close()
        rows.append((task, ok / episodes, float(np.mean(lengths))))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--task', default='PutRedCubeInBlueTray')
    p.add_argument('--size', type=int, default=64)
    p.add_argument('--steps', type=int, default=300)
    p.add_argument('--episodes', type=int, default=20, help='per task; 0 skips the table')
    p.add_argument('--noise', type=float, default=0.1)
    p.add_argument('--cpu', type=int, default=0, help='core to pin to (taskset equivalent)')
    args = p.parse_args(argv)
    if hasattr(os, 'sched_setaffinity'):
        os.sched_setaffinity(0, {args.cpu})
    r = throughput(args.task, args.size, args.steps, args.noise)
    from ptr_sim.env import SUBSTEPS
    from ptr_sim.scene import PHYSICS_HZ
    print(f'task={args.task} image={args.size}x{args.size} one core (cpu {args.cpu}); physics '
          f'{PHYSICS_HZ} Hz, {SUBSTEPS} substeps per control step')
    for k, v in r.items():
        print(f'  {k:<13} {1000 * v:7.3f} ms per step')
    print(f'env steps/s: {1.0 / r["env_step"]:.1f} per CPU-second of this process (goal >= 150), '
          f'{1.0 / r["env_step_wall"]:.1f} wall-clock (lower when other work shares the core; '
          f'load average now {os.getloadavg()[0]:.1f})')
    print(f'shares of an env step: render {r["render"] / r["env_step"]:.2f}, physics+IK '
          f'{r["physics_ik"] / r["env_step"]:.2f} (of which IK {r["ik"] / r["env_step"]:.2f}), '
          f'rest {(r["env_step"] - r["render"] - r["physics_ik"]) / r["env_step"]:.2f}; '
          f'scripted policy per step {r["policy"] / r["env_step"]:.2f} of a step')
    # Issue 24: the sim should cost at most about two renders per step (the render is the part
    # a learner needs; physics and IK are overhead).
    print(f'env step = {r["env_step"] / r["render"]:.2f} x one render (goal <= 2)')
    if args.episodes > 0:
        rows = success_rates(args.episodes, args.size, args.noise)
        print(f'\nscripted success over {args.episodes} episodes each (noise {args.noise}):')
        print(f'  {"task":<26} {"success":>7} {"mean len":>8}')
        for task, rate, length in rows:
            print(f'  {task:<26} {rate:7.2f} {length:8.1f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
