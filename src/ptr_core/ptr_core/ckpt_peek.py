"""The settings a checkpoint fixes (image size, tasks), read without torch in milliseconds.

Why: a graph's image size and task must match the policy checkpoint, and the graph is built
(under `ptr launch` and inside `ros2 launch`) before any node has imported torch. A torch.save
file is a zip whose `*/data.pkl` pickles the top-level dict; its tensors are persistent
references into other members. Unpickled here with every tensor, array and foreign object
replaced by a placeholder, the plain parts (the config dict, the task registry) come out as saved.
"""
from __future__ import annotations

import os
import pickle
import zipfile
from typing import Any

# The only classes built for real: plain data. Anything else (tensors, arrays, and any callable a
# crafted file might name, such as builtins.eval) becomes an inert placeholder.
_PLAIN = {('builtins', n) for n in ('set', 'frozenset', 'slice', 'complex', 'bytearray',
                                     'range', 'tuple', 'list', 'dict', 'int', 'float', 'str',
                                     'bool')} | {
    ('collections', 'OrderedDict'), ('collections', 'defaultdict'), ('_codecs', 'encode'),
    ('pathlib', 'PosixPath'), ('pathlib', 'PurePosixPath')}


class PeekError(ValueError):
    """The file is not a checkpoint whose settings can be read this way (message names it)."""


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _PLAIN:
            return super().find_class(module, name)
        return _Stub

    def persistent_load(self, pid: Any) -> None:
        return None


class _Stub:
    """What a tensor, an array or any foreign object becomes: built and filled, then ignored."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass


def peek(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint's top-level dict, tensors as placeholders; PeekError in one line."""
    try:
        with zipfile.ZipFile(path) as z:
            name = next((n for n in z.namelist() if n.endswith('/data.pkl')), None)
            if name is None:
                raise PeekError(f'{path}: expected a torch checkpoint (a data.pkl inside)')
            data = _Unpickler(z.open(name)).load()
    except (OSError, zipfile.BadZipFile, pickle.UnpicklingError, EOFError) as e:
        raise PeekError(f'{path}: cannot read its settings ({type(e).__name__}: {e})') from None
    if not isinstance(data, dict):
        raise PeekError(f'{path}: expected a checkpoint dict, got {type(data).__name__}')
    return data


def image_size(path: str | os.PathLike) -> int:
    """network.image_size of an agent or policy checkpoint (the images the policy reads)."""
    cfg = peek(path).get('config')
    try:
        return int(cfg['network']['image_size'])  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        raise PeekError(f'{path}: expected network.image_size in its config') from None


def target_task(path: str | os.PathLike) -> str | None:
    """The task the checkpoint's policy acts for (its target task), or None."""
    task = peek(path).get('target_task')
    return str(task) if task else None
