"""Draw docs/architecture.png: the packages with their imports (read from the code), and the
topics one online episode travels through. Run: .venv/bin/python tools/draw_architecture.py
[OUT.png [SRC_ROOT]]: with another checkout's root (e.g. a `git worktree` of an older commit),
its packages as they were (those it lacks are left out), to compare before and after."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# Layers from the bottom: what a package may import sits below it.
LAYERS = [['ptr_core'], ['ptr_ros', 'ptr_sim', 'ptr_arm'],
          ['ptr_policy', 'ptr_reward', 'ptr_safety', 'ptr_teleop'],
          ['ptr_reset', 'ptr_episodes', 'ptr_trainer'], ['ptr_bringup']]
ROLE = {'ptr_core': 'data, nets, CQL, configs (no ROS)', 'ptr_ros': 'node plumbing, contracts',
        'ptr_sim': 'PyBullet arm + bridge node', 'ptr_policy': 'policy node',
        'ptr_reward': 'success classifier + node', 'ptr_reset': 'reset node',
        'ptr_safety': 'safety filter, e-stop', 'ptr_teleop': 'teleop + bag recorder',
        'ptr_arm': 'WidowX 250 bridge + camera',
        'ptr_episodes': 'episode manager (robot)', 'ptr_trainer': 'trainer node (off-board)',
        'ptr_bringup': 'ptr CLI, graphs, demo'}
# One episode, in order: (from, to, topic).
EPISODE = [('sim_bridge', 'policy_node', 'camera/image_raw + robot/state'),
           ('policy_node', 'safety_filter', 'safety/action_in'),
           ('safety_filter', 'sim_bridge', 'robot/action'),
           ('sim_bridge', 'reward_node', 'camera/image_raw'),
           ('reward_node', 'episode_manager', 'ptr/reward_info'),
           ('episode_manager', 'trainer_node', 'ptr/episode (+ episode_data if inline)'),
           ('trainer_node', 'policy_node', 'ptr/policy_weights (signed)'),
           ('episode_manager', 'reset_node', 'ptr/reset_scene'),
           ('reset_node', 'safety_filter', 'safety/action_in until reset')]
NODES = {'sim_bridge': (0.1, 0.5), 'policy_node': (0.45, 0.85), 'reward_node': (0.45, 0.15),
         'safety_filter': (0.3, 0.5),
         'episode_manager': (0.8, 0.5), 'trainer_node': (0.8, 0.9), 'reset_node': (0.8, 0.1)}


def package_imports() -> dict[str, set[str]]:
    """package -> the other ptr packages its non-test modules import."""
    names = {p for layer in LAYERS for p in layer if (ROOT / 'src' / p / p).is_dir()}
    out: dict[str, set[str]] = {p: set() for p in names}
    for pkg in names:
        for path in (ROOT / 'src' / pkg / pkg).rglob('*.py'):
            for node in ast.walk(ast.parse(path.read_text())):
                mods = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                        [node.module or ''] if isinstance(node, ast.ImportFrom) else [])
                out[pkg] |= {m.split('.')[0] for m in mods} & (names - {pkg})
    return out


def draw(path: Path) -> Path:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(15, 6.5))
    layers = [[p for p in layer if (ROOT / 'src' / p / p).is_dir()] for layer in LAYERS]
    pos = {p: ((i + 0.5) / len(layer), 0.1 + 0.2 * y)
           for y, layer in enumerate(layers) for i, p in enumerate(layer)}
    for src, dsts in package_imports().items():
        for dst in dsts:
            # ptr_bringup starts every graph and imports nearly everything: faint and bent,
            # so its arrows are not read as imports between the packages they pass.
            top = src == 'ptr_bringup'
            ax1.annotate('', pos[dst], pos[src], arrowprops=dict(
                arrowstyle='->', color='0.8' if top else '0.45', shrinkA=22, shrinkB=22,
                lw=0.8 if top else 1.1, linestyle=':' if top else '-',
                connectionstyle='arc3,rad=0.25' if top else 'arc3'))
    for p, (x, y) in pos.items():
        ax1.text(x, y, f'{p}\n{ROLE[p]}', ha='center', va='center', fontsize=8.5,
                 bbox=dict(boxstyle='round', fc='#e8f0fb', ec='#4a72b0'))
    ax1.set_title('packages (arrow: imports, read from the code; dotted: ptr_bringup)')
    for a, b, topic in EPISODE:
        (x0, y0), (x1, y1) = NODES[a], NODES[b]
        ax2.annotate('', (x1, y1), (x0, y0), arrowprops=dict(
            arrowstyle='->', color='#b05a2a', shrinkA=30, shrinkB=30, lw=1.3,
            connectionstyle='arc3,rad=0.12'))
        # Labels sit beside the bent arrow (arc3 bends it to the right of its direction).
        dx, dy = x1 - x0, y1 - y0
        ax2.text((x0 + x1) / 2 + 0.1 * dy, (y0 + y1) / 2 - 0.1 * dx, topic, ha='center',
                 va='center', fontsize=7.5, color='#6b3210')
    for n, (x, y) in NODES.items():
        ax2.text(x, y, n, ha='center', va='center', fontsize=9,
                 bbox=dict(boxstyle='round', fc='#fbeee6', ec='#b05a2a'))
    ax2.set_title('one online episode: nodes and topics (DDS, separate processes)')
    for ax in (ax1, ax2):
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.axis('off')
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == '__main__':
    if len(sys.argv) > 2:
        ROOT = Path(sys.argv[2]).resolve()
    print(draw(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / 'docs' / 'architecture.png'))
