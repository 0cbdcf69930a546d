"""Progress for people: a tqdm bar on a terminal, a plain line now and then otherwise.

A bar redrawn with carriage returns turns a CI log or a redirected file into one endless line;
when the stream is not a terminal, `progress` prints a complete line at most every `every_s`
seconds and once at the end instead.
"""
from __future__ import annotations

import sys
import time
from typing import Any, Iterable, Iterator, TextIO


class LineProgress:
    """The subset of tqdm's interface this project uses, as periodic plain lines."""

    def __init__(self, iterable: Iterable | None, total: int | None, desc: str, unit: str,
                 initial: int, stream: TextIO, every_s: float, what: str = '') -> None:
        if total is None and iterable is not None and hasattr(iterable, '__len__'):
            total = len(iterable)  # type: ignore[arg-type]
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.what = what
        self.n, self.start_n = initial, initial
        self.stream, self.every_s = stream, every_s
        self.t0 = self.last = time.monotonic()
        self.postfix = ''
        self.closed = False

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable or ():
            yield item
            self.update(1)
        self.close()

    def line(self) -> str:
        elapsed = time.monotonic() - self.t0
        rate = (self.n - self.start_n) / elapsed if elapsed > 0 else 0.0
        done = f'{self.n}' if self.total is None else \
            f'{self.n}/{self.total} ({100 * self.n / max(self.total, 1):.0f}%)'
        post = f', {self.postfix}' if self.postfix else ''
        what = f'{self.what} ' if self.what else ''
        return f'{self.desc}: {what}{done}, {rate:.3g} {self.unit}/s, {elapsed:.0f} s{post}'

    def _emit(self) -> None:
        print(self.line(), file=self.stream, flush=True)
        self.last = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.n += n
        if time.monotonic() - self.last >= self.every_s:
            self._emit()

    def set_postfix(self, values: dict[str, Any] | None = None, **kw: Any) -> None:
        items = dict(values or {}) | kw
        self.postfix = ', '.join(f'{k}={v}' for k, v in items.items())

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._emit()

    def __enter__(self) -> 'LineProgress':
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress(iterable: Iterable | None = None, *, total: int | None = None, desc: str = '',
             unit: str = 'it', initial: int = 0, disable: bool = False,
             stream: TextIO | None = None, every_s: float = 30.0, what: str = '') -> Any:
    """A tqdm bar on a terminal; LineProgress (a line every `every_s` s) on anything else.

    `what`: the things counted, said before the count ("episodes 2/2"): a bare "2/2 (100%)" just
    above "0/2 successes" read as a success rate."""
    from tqdm import tqdm
    stream = stream or sys.stderr
    if disable:
        return tqdm(iterable, total=total, disable=True)
    if getattr(stream, 'isatty', lambda: False)():
        return tqdm(iterable, total=total, desc=f'{desc}: {what}' if what else desc, unit=unit,
                    initial=initial, file=stream, dynamic_ncols=True)
    return LineProgress(iterable, total, desc, unit, initial, stream, every_s, what)
