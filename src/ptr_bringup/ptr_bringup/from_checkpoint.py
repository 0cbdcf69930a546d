"""Graph arguments a policy checkpoint determines: the camera's image size and the task.

Why: `ros2 launch` ignores an unknown argument, so a typo such as `image_sze:=48` left the camera
at the default 64 px while the checkpoint wanted 48, and the policy node logged "not acting"
forever. Now `image_size` and `task` default to '' and are read from the policy checkpoint
(ptr_core.ckpt_peek, no torch); a value given that contradicts the checkpoint is a GraphError
naming both. A checkpoint that cannot be read leaves the fallbacks: the policy node then refuses
it in its own line (exit CONFIG_ERROR), which ends the graph.
"""
from __future__ import annotations

from ptr_bringup.graph_model import GraphError, parse_int
from ptr_core import ckpt_peek

FALLBACK = {'image_size': '64', 'task': 'OpenDoor'}


def settle(args: dict[str, str], ckpt_argument: str) -> dict[str, str]:
    """`args` with image_size and task filled from the checkpoint named by `ckpt_argument`."""
    path = args.get(ckpt_argument, '')
    try:
        size: int | None = ckpt_peek.image_size(path) if path else None
        task = ckpt_peek.target_task(path) if path else None
    except ckpt_peek.PeekError:
        size, task = None, None
    out = dict(args)
    given = args.get('image_size', '').strip()
    if not given:
        out['image_size'] = str(size) if size is not None else FALLBACK['image_size']
    elif size is not None and parse_int('image_size', given) != size:
        raise GraphError(f'argument image_size: {given} contradicts {ckpt_argument}:={path}, '
                         f'whose network.image_size is {size}: leave image_size out (it comes '
                         f'from the checkpoint) or give a checkpoint trained at {given} px')
    if not args.get('task', '').strip():
        out['task'] = task or FALLBACK['task']
    return out
