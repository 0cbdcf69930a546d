"""The demo's online stage: the real online graph (`ptr launch online_finetune`) on a private DDS
domain, followed episode by episode, with the budget's trainer settings as an OnlineConfig YAML."""
from __future__ import annotations

import dataclasses
import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from ptr_bringup.demo_budget import Budget
from ptr_bringup.demo_report import say
from ptr_ros.domains import parse_domain_id, private_domain


def run_online(paths: dict[str, Path], run_dir: Path, b: Budget, seed: int,
               starts: str = 'demo') -> dict[str, Any]:
    """Start the online_finetune graph through `ptr launch`'s runner; wait for its episodes
    (`starts`: where the sim starts them, ptr_core.constants.START_MODES)."""
    from ptr_bringup.launcher import GraphRunner, prepare
    from ptr_core.progress import progress
    history = run_dir / 'episodes' / 'history.json'
    if history.is_file() and len(json.loads(history.read_text())) >= b.online_episodes:
        return {'history': json.loads(history.read_text()), 'exit_code': 0, 'wall_s': 0.0}
    run_dir.mkdir(parents=True, exist_ok=True)
    online_cfg = write_online_config(run_dir / 'online_config.yaml', b)
    args = {'policy_ckpt': str(paths['finetune']), 'reward_ckpt': str(paths['reward']),
            'reset_ckpt': str(paths['reset_policy']), 'prior_data': str(paths['prior']),
            'target_data': str(paths['target']), 'run_dir': str(run_dir),
            'image_size': str(b.image_size), 'episodes': str(b.online_episodes),
            'seed': str(seed), 'greedy': 'false',
            'clock': 'lockstep', 'online_config': str(online_cfg),
            'exploration_scale': str(b.exploration_scale),
            'reward_threshold': str(b.reward_threshold), 'starts': starts}
    _, specs, cmds = prepare('online_finetune', args)
    domain = demo_domain()
    env = dict(os.environ, PYTHONUNBUFFERED='1',
               ROS_DOMAIN_ID=str(domain),
               PTR_WEIGHTS_KEY=os.environ.get('PTR_WEIGHTS_KEY') or secrets.token_hex(16))
    log = open(run_dir / 'graph.log', 'w', encoding='utf-8')
    runner = GraphRunner(specs, cmds, env=env, out=log, shutdown_timeout=10.0)
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(code=runner.run()), daemon=True)
    t0 = time.monotonic()
    thread.start()
    say(f'online graph started on DDS domain {domain}: {", ".join(s.name for s in specs)} '
        f'(log: {log.name})')
    done = 0
    with progress(total=b.online_episodes, desc='online episodes', unit='ep') as bar:
        while thread.is_alive() and time.monotonic() - t0 < b.online_timeout:
            thread.join(1.0)
            if history.is_file():
                try:
                    n = len(json.loads(history.read_text()))
                except ValueError:
                    continue
                bar.update(n - done)
                done = n
    if thread.is_alive():
        say(f'online graph still running after {b.online_timeout:.0f} s: stopping it')
        runner.stop_requested.set()
        thread.join(60.0)
    log.close()
    hist = json.loads(history.read_text()) if history.is_file() else []
    return {'history': hist, 'exit_code': result.get('code'),
            'wall_s': round(time.monotonic() - t0, 1)}


def demo_domain() -> int:
    """The demo's graph gets a private DDS domain (it must not meet another graph's topics);
    PTR_DEMO_DOMAIN picks one, e.g. to watch it with `ros2 topic echo`."""
    value = os.environ.get('PTR_DEMO_DOMAIN', '')
    return parse_domain_id(value, 'PTR_DEMO_DOMAIN') if value.strip() else private_domain()


def write_online_config(path: Path, b: Budget) -> Path:
    """The budget's trainer settings (its one OnlineConfig) as the graph's online_config YAML."""
    import yaml

    from ptr_core.atomic import atomic_path
    values = dataclasses.asdict(b.trainer.validate())
    values = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
    with atomic_path(path, suffix='.yaml') as tmp:
        Path(tmp).write_text(yaml.safe_dump(values, sort_keys=True))
    return path
