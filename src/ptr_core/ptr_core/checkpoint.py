"""Self-describing, atomically written checkpoints (config, task registry, fingerprint, weights).

Why: a checkpoint is the hand-off between pre-training, fine-tuning, evaluation, the trainer node
and the policy node; each must rebuild the exact network from the file alone, and a crash while
writing must never leave a truncated file under the final name.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ptr_core.atomic import atomic_path
from ptr_core.ckpt_file import CheckpointError, check_file, torch_error_line

# CheckpointError lives in ckpt_file (no torch there): commands check their files before importing
# torch, and `except checkpoint.CheckpointError` still catches what either raises.

AGENT_FORMAT = 'ptr-agent/1'
POLICY_FORMAT = 'ptr-policy/1'


def fingerprint(arch: dict[str, Any], module: nn.Module) -> str:
    """sha256 of the architecture config and every parameter's name and shape (16 hex chars)."""
    shapes = sorted((k, list(v.shape)) for k, v in module.state_dict().items())
    blob = json.dumps({'arch': arch, 'shapes': shapes}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def to_bytes(payload: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    torch.save(payload, buf)
    return buf.getvalue()


# Plain numpy arrays (the numpy RNG state of a resumable checkpoint) are data, not code: these
# constructors are all a checkpoint may use beyond torch's own weights-only set.
_NUMPY_DATA = [np._core.multiarray._reconstruct, np.ndarray, np.dtype] + [
    type(np.dtype(t)) for t in (np.uint8, np.uint32, np.int64, np.float32, np.float64, np.bool_)]


def from_bytes(data: bytes, where: str = 'checkpoint') -> dict[str, Any]:
    """Unpickle with torch's weights-only loader: a checkpoint or a weights packet can carry
    tensors, numbers, strings and containers, never code (weights also travel over DDS)."""
    try:
        with torch.serialization.safe_globals(_NUMPY_DATA):
            return torch.load(io.BytesIO(data), map_location='cpu', weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for corrupt data
        raise CheckpointError(f'{where}: unreadable checkpoint ({torch_error_line(e)})') from None


def save(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write `payload` to `path` atomically (temp file + fsync + rename)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, 'wb') as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
    return path


def load(path: str | os.PathLike, expect_format: str | tuple[str, ...] | None = None
         ) -> dict[str, Any]:
    """Read a checkpoint; raise CheckpointError naming the file on any problem."""
    path = check_file(path)  # missing, empty or not a zip: said before torch reads a byte
    payload = from_bytes(path.read_bytes(), str(path))
    fmt = payload.get('format') if isinstance(payload, dict) else None
    wanted = (expect_format,) if isinstance(expect_format, str) else expect_format
    if wanted is not None and fmt not in wanted:
        raise CheckpointError(f'{path}: format: expected {" or ".join(wanted)}, got {fmt!r}')
    return payload


def latest(run_dir: str | os.PathLike) -> Path | None:
    """Newest RUN/checkpoints/step_<n>.pt by step number, or None."""
    ckpts = list(Path(run_dir, 'checkpoints').glob('step_*.pt'))
    steps = [(int(p.stem.split('_')[1]), p) for p in ckpts if p.stem.split('_')[1].isdigit()]
    return max(steps)[1] if steps else None


def deployed_actor(payload: dict[str, Any]) -> dict[str, Any]:
    """The policy weights a robot runs: the averaged ones when training kept an average."""
    return payload.get('actor_avg') or payload['actor']


def export_policy(agent_ckpt: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write the policy-only part of an agent checkpoint (what a robot needs, nothing more)."""
    payload = load(agent_ckpt, AGENT_FORMAT)
    return save(out, {k: payload[k] for k in ('config', 'tasks', 'target_task', 'step',
                                                 'policy_fingerprint')}
                | {'format': POLICY_FORMAT, 'actor': deployed_actor(payload)})
