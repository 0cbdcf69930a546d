"""Inputs for graph tests (ptr launch and launch_pytest alike): tiny, but real files."""
from __future__ import annotations

from pathlib import Path


def online_graph_inputs(folder: Path, image_size: int) -> dict[str, str]:
    """An untrained OpenDoor agent, 3 prior and 1 demo episodes, and a success classifier whose
    P(success) is ~0 (episodes end at the horizon, deterministically): graph arguments by name."""
    import torch

    from ptr_core.agent import Agent
    from ptr_core.data import DatasetWriter
    from ptr_core.task_registry import TaskRegistry
    from ptr_core.testing import random_episode, tiny_config
    from ptr_reward.classifier import ClassifierConfig, SuccessClassifier, save_classifier
    reg = TaskRegistry.create(['CloseDrawer', 'OpenDoor'])
    ckpt = Agent(tiny_config(image_size), reg.to_dict(), 'OpenDoor').save(folder / 'ft.pt')
    with DatasetWriter(folder / 'prior') as w:
        for i in range(3):
            w.add(random_episode('CloseDrawer', i, 5, True, image_size))
    with DatasetWriter(folder / 'demos') as w:
        w.add(random_episode('OpenDoor', 10, 5, True, image_size))
    torch.manual_seed(0)
    classifier = SuccessClassifier(ClassifierConfig(image_size=image_size, channels=(4, 8),
                                                    hidden=8))
    with torch.no_grad():
        classifier.head.bias.fill_(-20.0)
    reward = save_classifier(folder / 'reward.pt', classifier)
    return {'policy_ckpt': str(ckpt), 'reward_ckpt': str(reward),
            'prior_data': str(folder / 'prior'), 'target_data': str(folder / 'demos')}


def counting_stage(work: Path, params: dict, deps: dict) -> dict:
    """A stage kind for engine tests ('ptr_bringup.testing:counting_stage'): appends one line
    to params['ledger'] per run, sums its dependencies' values, fails on params['fail'], and
    reports whether it found a partial file a killed run left in its work folder."""
    with open(params['ledger'], 'a') as f:
        f.write(f"{params['name']}\n")
    resumed = (work / 'partial').exists()
    (work / 'partial').write_text('started')
    if params.get('fail'):
        print('about to fail: a line the error report should carry')
        raise RuntimeError(f"{params['name']} failed on purpose")
    if params.get('die'):  # a killed run: leaves the partial file and no result
        import os
        os._exit(3)
    value = params.get('value', 0) + sum(d['value'] for d in deps.values())
    from ptr_bringup.experiments.engine import stage_cores
    out = {'value': value, 'resumed': resumed, 'cores': stage_cores()}
    if params.get('pool'):  # a stage given several cores may start its own worker processes
        import multiprocessing as mp
        with mp.get_context('spawn').Pool(stage_cores()) as pool:
            out['pids'] = len(set(pool.map(_pid, range(8), chunksize=1)))
    return out


def _pid(_: int) -> int:
    import os
    import time
    time.sleep(0.05)
    return os.getpid()
