"""`ptr tasks`: print the simulated task registry."""
from __future__ import annotations

import argparse
import sys


def tasks_main(argv: list[str] | None = None) -> int:
    from ptr_sim.tasks import TASKS

    p = argparse.ArgumentParser(prog='ptr tasks', description='list the simulated tasks')
    p.add_argument('--names', action='store_true', help='print only the names, one a line')
    try:
        args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as e:
        return int(e.code or 0)
    if args.names:
        print('\n'.join(TASKS))
        return 0
    rows = [('name', 'index', 'kitchen', 'horizon', 'kind')]
    rows += [(t.name, str(t.index), t.kitchen, str(t.horizon), t.kind) for t in TASKS.values()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print('  '.join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


if __name__ == '__main__':
    sys.exit(tasks_main())
