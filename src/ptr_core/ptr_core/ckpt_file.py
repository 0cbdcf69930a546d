"""Is this file a torch checkpoint at all? Answered before torch is imported, in one line.

Why: importing torch (and pybullet) takes seconds, so a command or node given a missing or
corrupt checkpoint took 11-14 s to say so, and torch's own unpickling errors run to eight lines of
advice. Here only the standard library is used: existence, then the first bytes (torch.save
writes a zip archive; old torch a pickle), then the zip's end-of-archive record (a file cut off
while copying has none). What passes may still fail inside torch: torch_error_line() makes that
one line too.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

ZIP_MAGIC = b'PK\x03\x04'  # torch.save since 1.6
PICKLE_MAGIC = b'\x80'  # legacy torch.save: a pickle (protocol >= 2)
_ZIP_END = b'PK\x05\x06'  # end of central directory record: within the last 64 KiB + 22 bytes
_ZIP_END_SPAN = 65536 + 22
_ANSI = re.compile(r'\x1b\[[0-9;]*[A-Za-z]')
# torch's lines on how to load the file unsafely or where to read more: not what went wrong
_ADVICE = re.compile(r'weights_only|^\(\d\)|^Check the documentation|^Please ')
_ENFORCE = re.compile(r'^\[enforce fail at [^\]]*\]\s*\.?\s*')  # c10's prefix: where, not what


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or of the wrong kind (message names the file)."""


def check_file(path: str | os.PathLike, flag: str = '') -> Path:
    """The path, if it can be a torch checkpoint; else CheckpointError naming it (and the
    command-line flag that gave it, when `flag` is set), what is wrong, expected vs got."""
    path = Path(path)
    where = f'{flag} {path}' if flag else str(path)
    if not path.exists():
        raise CheckpointError(f'{where}: checkpoint not found')
    if not path.is_file():
        raise CheckpointError(f'{where}: expected a checkpoint file, got a directory'
                              if path.is_dir() else f'{where}: expected a checkpoint file')
    try:
        with open(path, 'rb') as f:
            head = f.read(len(ZIP_MAGIC))
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - _ZIP_END_SPAN))
            tail = f.read()
    except OSError as e:
        raise CheckpointError(f'{where}: cannot read ({e.strerror})') from None
    if not head:
        raise CheckpointError(f'{where}: unreadable checkpoint: expected a torch zip archive, '
                              'got an empty file')
    if head.startswith(PICKLE_MAGIC):
        return path
    if head != ZIP_MAGIC:
        raise CheckpointError(f'{where}: unreadable checkpoint: expected a torch zip archive '
                              f'(starting {ZIP_MAGIC!r}), got {head!r}')
    if _ZIP_END not in tail:
        raise CheckpointError(f'{where}: unreadable checkpoint: expected a zip archive ending '
                              f'in its directory, got {size} bytes without one (cut off?)')
    return path


def torch_error_line(e: BaseException) -> str:
    """torch.load's error in one line: its type and the sentence that says what failed (for a
    weights-only refusal the unpickler's, not the advice on how to turn safe loading off)."""
    lines = [ln.strip() for ln in _ANSI.sub('', str(e)).splitlines() if ln.strip()]
    marker = 'WeightsUnpickler error:'
    said = next((ln.split(marker, 1)[1].strip() for ln in lines if marker in ln), None)
    if said is None and lines and lines[0].startswith('Weights only load failed'):
        said = next((ln for ln in lines[1:] if not _ADVICE.search(ln)), lines[0])
    said = _ENFORCE.sub('', said if said is not None else lines[0] if lines else '')
    sentence = re.split(r'(?<=[.!?])\s', said, maxsplit=1)[0]
    return f'{type(e).__name__}: {sentence}' if sentence else type(e).__name__
