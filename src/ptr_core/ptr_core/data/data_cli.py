"""`ptr data`: everything about datasets under one group.

ptr data info DIR                                   tasks, episodes, lengths, success, actions
ptr data show DIR --task T --episode K --out E.png  one episode's frames and action traces
ptr data from-bags BAG_OR_DIR... --task T --out DIR rosbag2 episodes -> dataset
ptr data from-bridge SRC DST                        Bridge numpy/raw -> dataset
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ptr_core.data.dataset import DatasetError


def info_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog='ptr data info',
                                 description='Summarize a dataset: per task episodes, lengths, '
                                             'success rate, image size, action mean/std.')
    ap.add_argument('root', help='dataset root (ROOT/<task>/shard-*)')
    args = ap.parse_args(argv)
    from ptr_core.data.report import summarize
    try:
        print(summarize(args.root))
    except DatasetError as e:
        print(f'ptr data info: {e}', file=sys.stderr)
        return 1
    return 0


def show_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog='ptr data show',
                                 description="Render one episode's frames and action traces.")
    ap.add_argument('root', help='dataset root')
    ap.add_argument('--task', required=True, help='task folder name')
    ap.add_argument('--episode', type=int, default=0, help='episode index within the task')
    ap.add_argument('--out', required=True, help='PNG to write')
    ap.add_argument('--frames', type=int, default=8, help='frames along the top')
    args = ap.parse_args(argv)
    from ptr_core.data.report import show_episode
    try:
        path = show_episode(args.root, args.task, args.episode, args.out, args.frames)
    except DatasetError as e:
        print(f'ptr data show: {e}', file=sys.stderr)
        return 1
    print(f'wrote {path}')
    return 0


def bag_folders(paths: list[str]) -> list[str]:
    """Each path as given when it is a bag (has metadata.yaml), else the bags directly in it."""
    out = []
    for p in map(Path, paths):
        if (p / 'metadata.yaml').is_file() or not p.is_dir():
            out.append(str(p))  # not a folder at all: the converter names it
        else:
            out += sorted(str(b) for b in p.iterdir() if (b / 'metadata.yaml').is_file())
    return out


def from_bags_main(argv: list[str]) -> int:
    from ptr_core.data import rosbag
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument('bags', nargs='*')
    known, rest = ap.parse_known_args(argv)
    return rosbag.main(bag_folders(known.bags) + rest, prog='ptr data from-bags')


def from_bridge_main(argv: list[str]) -> int:
    from ptr_core.data import bridge
    return bridge.main(argv)


SUBCOMMANDS = {'info': info_main, 'show': show_main, 'from-bags': from_bags_main,
               'from-bridge': from_bridge_main}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ('-h', '--help'):
        print(__doc__)
        return 0 if argv else 2
    if argv[0] not in SUBCOMMANDS:
        print(f'ptr data: unknown subcommand {argv[0]!r}; expected one of '
              f'{sorted(SUBCOMMANDS)}', file=sys.stderr)
        return 2
    return SUBCOMMANDS[argv[0]](argv[1:])


if __name__ == '__main__':
    sys.exit(main())
