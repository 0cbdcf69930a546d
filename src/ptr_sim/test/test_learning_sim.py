"""Learning test (issue 3): CQL on scripted sim data of one easy task learns, end to end.

Pipeline: scripted episodes of OpenDrawer at 48 px, 40 near-clean (action noise 0.1, the script
always succeeds) and 30 noisy ones (noise 0.4, about 88% success, failures kept) -> PTR reward
labeling -> CQL with the ptr_sim_cpu preset (shared encoder, batch 32: CPU time), 1200 steps ->
(a) on held-out successful trajectories (noise 0.1) the selection score (Spearman of Q with time,
times the range factor) is clearly positive and well above the untrained critic's; (b) the greedy
policy succeeds in sim more often than a uniformly random policy (about 3% here) over the same 30
seeded starts, by a one-sided Fisher exact test and with non-overlapping 95% Wilson intervals.

Why OpenDrawer: fixed fixture position, 10-16-step episodes, a reliable script and a low random
success rate, so a short run separates learned from random behaviour with few episodes.
Why the mix (measured, seed 0-2): from clean demos alone a third of all transitions are the
terminal +10 ones, the critic's Q is high and blurred everywhere and the held-out score is
0.3-0.6 and decays with more steps; from noisy episodes alone the score is 0.54-0.62 but the
greedy policy fails (0-2/30 at noise 0.2-0.4); the mix gets both.
Why the result holds on any machine (issue 7): two causes made it flip with float rounding.
(1) Every OpenDrawer episode started from the same arm pose, so the deterministic greedy policy
ran one trajectory 30 times: 30 episodes were one trial, 0/30 or 30/30 depending on one choice at
the second step (reach past the handle or pull), which float rounding decided. The arm now starts
anywhere in home +- (3, 4, 2) cm (ptr_sim.arm.START_JITTER), so the 30 starts are 30 trials.
(2) With the temperature still near 1 at 1200 steps, the greedy policy swings with the critic
from checkpoint to checkpoint (one seed: 29, 10, 24, 11 of 30 over 1000-1600 steps); the preset
deploys an exponential average of the policy (agent.policy_ema 0.995), which damps that.
Measured at 1200 steps, 2 threads (learned vs random over the same 30 starts; monotonicity):
default kernels, seeds 0-4: 20, 22, 23, 27, 26 /30 vs 0-1/30, 0.65-0.90; ATEN_CPU_CAPABILITY=avx2:
20, 24, 22, 29, 26 /30 vs 0-1/30, 0.64-0.87 (Fisher p <= 7.2e-9, Wilson low >= 48.8% vs high
<= 16.7%). With the fused Adam kernel (ptr_core.agent.adam; an AVX-512 Xeon, default kernels):
22, 24, 21, 29, 23 /30 vs 0-1/30, 0.66-0.89 (Fisher p <= 1.8e-9, Wilson low >= 52.1%).
1200 steps: past ~1600 the held-out monotonicity decays (the critic overfits 420
transitions). Same seed, machine and thread count: the same numbers run after run (training and
data are bit-identical; 1 and 2 threads differ in reduction order).
Everything is seeded (PTR_LEARNING_SEED picks another seed for margin checks, default 0).
"""
import os

import numpy as np
import pytest

import ptr_sim
from ptr_core.agent import Agent
from ptr_core.config import parse_overrides, preset
from ptr_core.data.rewards import RewardConfig
from ptr_core.data.sampler import TransitionBuffer
from ptr_core.select import AgentQ, score_q_fn
from ptr_core.stats import fisher_greater
from ptr_core.task_registry import TaskRegistry
from ptr_core.train import train
from ptr_sim.collect import rollout
from ptr_sim.evaluate import CheckpointPolicy, evaluate
from ptr_sim.scripted import make_scripted_policy

TASK = 'OpenDrawer'
SIZE = 48
SEED = int(os.environ.get('PTR_LEARNING_SEED', '0'))
# Training episodes as (count, std of the scripted action noise in normalized units) groups.
TRAIN_DATA = ((40, 0.1), (30, 0.4))
HELDOUT_NOISE = 0.1
HELDOUT_EPISODES = 8
STEPS = 1200
EVAL_EPISODES = 30
OVERRIDES = [f'network.image_size={SIZE}', 'network.num_tasks=4',
             'network.shared_encoder=true', 'train.batch_size=32',
             'train.log_every=0', 'train.ckpt_every=0', f'train.seed={SEED}']


def _collect(env, seeds, noise: float):
    out = []
    for s in seeds:
        policy = make_scripted_policy(TASK, env, noise, np.random.default_rng(s))
        out.append(rollout(env, policy, TASK, s, noise))
    return out


class RandomPolicy:
    """Uniform actions in [-1, 1]^7 from a seeded generator (reset per evaluation run)."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, obs):
        return self.rng.uniform(-1.0, 1.0, 7).astype(np.float32)


@pytest.mark.slow
def test_cql_learns_open_drawer_from_scripted_data():
    base = 100_000 * SEED
    env = ptr_sim.make_env(TASK, image_size=SIZE)
    try:
        trajs = []
        for count, noise in TRAIN_DATA:
            trajs += _collect(env, range(base + len(trajs), base + len(trajs) + count), noise)
        heldout = [t for t in _collect(env, range(base + 50_000,
                                                  base + 50_000 + HELDOUT_EPISODES),
                                       HELDOUT_NOISE) if t.success]
        assert len(heldout) >= HELDOUT_EPISODES // 2, 'scripted OpenDrawer stopped succeeding'

        cfg = parse_overrides(preset('ptr_sim_cpu'), OVERRIDES)
        reg = TaskRegistry.create([TASK])
        rewards = RewardConfig.ptr(cfg.agent.discount)
        buffer = TransitionBuffer.from_trajectories(trajs, reg, rewards)
        agent = Agent(cfg, tasks=reg.to_dict(), target_task=TASK)
        task_id = reg.id(TASK)

        score0, _, _ = score_q_fn(AgentQ(agent, task_id), heldout, rewards)
        agent = train(cfg, [buffer], STEPS, agent=agent, progress=False, tensorboard=False)
        score1, curves, per = score_q_fn(AgentQ(agent, task_id), heldout, rewards)

        ep0 = base + 200_000
        learned = evaluate(CheckpointPolicy(agent.deployable(TASK), greedy=True), TASK,
                           EVAL_EPISODES, seed=ep0, image_size=SIZE, env=env)
        random = evaluate(RandomPolicy(SEED), TASK, EVAL_EPISODES, seed=ep0, image_size=SIZE,
                          env=env)
    finally:
        env.close()
    p = fisher_greater(learned.successes, learned.episodes, random.successes, random.episodes)
    print(f'\nlearning test seed {SEED}: monotonicity {score0:.3f} -> {score1:.3f} '
          f'(spearman per held-out traj {[round(s.spearman, 2) for s in per]}); '
          f'learned {learned.summary()}; random {random.summary()}; one-sided Fisher p={p:.2g}')
    # (a) Q rises along held-out successes: clearly positive and well above initialisation.
    assert score1 > 0.4, f'held-out monotonicity {score1:.3f} (init {score0:.3f})'
    assert score1 > score0 + 0.3, f'held-out monotonicity {score1:.3f} vs init {score0:.3f}'
    assert all(np.isfinite(c).all() for c in curves)
    # (b) the policy beats random on the same seeded starts, and not by luck.
    assert learned.successes > random.successes
    assert p < 0.01, f'learned {learned.successes}/{learned.episodes} vs random ' \
                     f'{random.successes}/{random.episodes}: p={p:.3g}'
    assert learned.low > random.high, 'Wilson 95% intervals overlap'
