"""Training scalars to TensorBoard and to a JSON-lines file (readable without TensorBoard)."""
from __future__ import annotations

import json
import os
from pathlib import Path


class MetricsLogger:
    """`log(step, {name: float})` -> RUN/tb (TensorBoard) and RUN/metrics.jsonl."""

    def __init__(self, run_dir: str | os.PathLike, tensorboard: bool = True) -> None:
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._jsonl = open(self.dir / 'metrics.jsonl', 'a', buffering=1)
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # heavy: import only when used
            self._tb = SummaryWriter(str(self.dir / 'tb'))

    def log(self, step: int, scalars: dict[str, float], prefix: str = 'train') -> None:
        self._jsonl.write(json.dumps({'step': int(step)} | scalars) + '\n')
        if self._tb is not None:
            for k, v in scalars.items():
                self._tb.add_scalar(f'{prefix}/{k}', v, step)

    def close(self) -> None:
        self._jsonl.close()
        if self._tb is not None:
            self._tb.close()

    def __enter__(self) -> 'MetricsLogger':
        return self

    def __exit__(self, *exc) -> None:
        self.close()
