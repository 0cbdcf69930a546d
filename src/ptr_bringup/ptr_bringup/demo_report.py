"""What `ptr demo` shows the user: the online run's summary, the success plot, the printout."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def say(text: str) -> None:
    print(f'[ptr demo] {text}', flush=True)


def online_summary(res: dict[str, Any], summary: dict[str, Any], run_dir: Path) -> None:
    """Into `summary`: episode counts from the manager's history under 'online', with the guard's
    events, and the telemetry plot of the run."""
    hist = res['history']
    summary['online'] = {'episodes': len(hist), 'exit_code': res['exit_code'],
                         'env_steps': int(sum(h['length'] for h in hist)),
                         'classifier_successes': int(sum(h['success'] for h in hist)),
                         'sim_successes': int(sum(h['sim_success'] for h in hist)),
                         'wall_s': res['wall_s']}
    from ptr_trainer.telemetry import precision_recall, verdict_counts
    sent = [(bool(h['success']), bool(h['sim_success'])) for h in hist if h.get('sent', True)]
    pr = precision_recall(sent)
    said, real, both = verdict_counts(sent)
    summary['online'] |= {'reward_precision': pr['precision'], 'reward_recall': pr['recall'],
                          'reward_true_positives': both, 'reward_said': said,
                          'reward_real': real}
    tel = run_dir / 'telemetry'
    if (tel / 'telemetry.jsonl').is_file():
        from ptr_trainer.telemetry import plot as plot_telemetry
        summary['telemetry_plot'] = str(plot_telemetry(tel))
        events = [json.loads(x) for x in (tel / 'telemetry.jsonl').read_text().splitlines()
                  if '"kind": "event"' in x]
        summary['online']['guard_events'] = [e['text'] for e in events]


def plot(history: list[dict[str, Any]], before: dict | None, after: dict | None,
         path: Path, task: str = '') -> Path:
    """Success against environment steps: each online episode (sim ground truth), the running
    rate, and the evaluated success rates before and after with their 95% intervals."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from ptr_core.atomic import atomic_path
    fig, ax = plt.subplots(figsize=(8.4, 4.0))
    steps = np.cumsum([h['length'] for h in history]) if history else np.zeros(0)
    ok = np.array([float(h.get('sim_success', False)) for h in history])
    if len(ok):
        ax.scatter(steps, ok, s=14, c='tab:blue', alpha=0.5,
                   label='online episode (sampled actions)')
        ax.plot(steps, np.cumsum(ok) / np.arange(1, len(ok) + 1), c='tab:blue',
                label='online success rate (running)')
    end = float(steps[-1]) if len(steps) else 1.0
    for res, x, color, name in ((before, 0.0, 'tab:red', 'before (offline PTR)'),
                                (after, end, 'tab:green', 'after online fine-tuning')):
        if res:
            ax.errorbar([x], [res['rate']], yerr=[[res['rate'] - res['low']],
                                                  [res['high'] - res['rate']]],
                        fmt='o', c=color, capsize=4,
                        label=f'{name}, greedy: {100 * res["rate"]:.0f}% (95% CI)')
    ax.set_xlabel('online environment steps')
    ax.set_ylabel(f'{task} success'.strip())
    ax.set_ylim(-0.05, 1.05)
    ax.set_title('PTR autonomous online fine-tuning (sim)')
    ax.legend(fontsize=8, loc='upper left', bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    with atomic_path(path, suffix='.png') as tmp:
        fig.savefig(tmp, format='png', dpi=120)
    plt.close(fig)
    return path


def print_summary(s: dict[str, Any], task: str) -> None:
    def rate(r):
        return (f'{100 * r["rate"]:.0f}% ({r["successes"]}/{r["episodes"]}, 95% CI '
                f'{100 * r["low"]:.0f}-{100 * r["high"]:.0f}%)') if r else 'n/a'
    say('=== summary')
    say(f'reward classifier val accuracy: '
        f'{s["reward_classifier"].get("val_accuracy", float("nan")):.3f}')
    say(f'{task} success before online fine-tuning: {rate(s["before"])}')
    if 'online' in s:
        o = s['online']
        say(f'online: {o["episodes"]} episodes, {o["env_steps"]} env steps, '
            f'{o["sim_successes"]} sim successes ({o["classifier_successes"]} by the '
            f'classifier), {o["wall_s"]} s')
        if 'reward_precision' in o:
            def share(x):
                return 'n/a' if x is None else f'{x:.2f}'
            say(f'reward classifier online: episode precision {share(o["reward_precision"])} '
                f'({o["reward_true_positives"]}/{o["reward_said"]} of its successes were '
                f'real), recall {share(o["reward_recall"])} ({o["reward_true_positives"]}/'
                f'{o["reward_real"]} real successes found)')
    say(f'{task} success after online fine-tuning:  {rate(s.get("after"))}')
    say(f'stage seconds: {s["stage_seconds"]}')
    say(f'plot: {s["plot"]}; total {s["wall_s"]} s')
