"""Every config key with its value and one-line meaning, read from the dataclasses' own comments.

The comment on a field's line (and comment lines right below it) is its documentation, so the
source stays the one place it is written; `ptr config show` and the training commands' --help
print it. A field without a comment is a test failure (test_config_docs).
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import io
import sys
import textwrap
import tokenize
from typing import Any

from ptr_core.config import PRESETS, Config, ConfigError, load_config
from ptr_core.online_config import OnlineConfig


def field_docs(cls: type) -> dict[str, str]:
    """Field name -> its comment (continuation comment lines joined), '' where there is none;
    fields a dataclass inherits are documented where their base class declares them."""
    docs: dict[str, str] = {}
    for base in reversed(cls.__mro__):
        if dataclasses.is_dataclass(base):
            docs.update(_own_field_docs(base))
    return docs


def _own_field_docs(cls: type) -> dict[str, str]:
    src = textwrap.dedent(inspect.getsource(cls))
    comments: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip('#').strip()
    lines = src.splitlines()
    body = ast.parse(src).body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node in body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        parts = [comments[node.end_lineno]] if node.end_lineno in comments else []
        k = node.end_lineno + 1  # comment-only lines below continue the same note
        while k in comments and lines[k - 1].lstrip().startswith('#'):
            parts.append(comments[k])
            k += 1
        docs[node.target.id] = ' '.join(parts)
    return docs


def _value(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return ','.join(_value(x) for x in v)
    if isinstance(v, bool):
        return str(v).lower()
    return f'{v:g}' if isinstance(v, float) else str(v)


def describe(obj: Any, prefix: str) -> list[str]:
    """'prefix.name = value  # doc' for every field of a config dataclass, in field order."""
    docs = field_docs(type(obj))
    rows = [(f'{prefix}{f.name} = {_value(getattr(obj, f.name))}', docs.get(f.name, ''))
            for f in dataclasses.fields(obj)]
    width = max(len(r[0]) for r in rows)
    return [f'{key:<{width}}  # {doc}' if doc else key for key, doc in rows]


def config_text(cfg: Config) -> str:
    """The training config (network, agent, train) a run of `cfg` uses, one key per line."""
    out = [f'# preset {cfg.preset}: set a key with --set section.key=VALUE or a YAML --config']
    for section in ('network', 'agent', 'train'):
        out += ['', f'# {section}: {type(getattr(cfg, section)).__doc__.splitlines()[0]}']
        out += describe(getattr(cfg, section), f'{section}.')
    return '\n'.join(out)


def online_text(cfg: OnlineConfig | None = None) -> str:
    """The online trainer's settings: node parameters / online_config YAML keys."""
    return '\n'.join(['# online (trainer node parameters, or keys of its online_config YAML)']
                     + describe(cfg or OnlineConfig(), ''))


def main(argv: list[str] | None = None) -> int:
    """`ptr config show [--preset P] [--set K=V ...] [--online]`."""
    p = argparse.ArgumentParser(prog='ptr config', description='Show every config key, its '
                                'value and what it means.')
    p.add_argument('action', choices=('show',))
    p.add_argument('--preset', default='ptr_sim_cpu', help=f'one of {", ".join(PRESETS)}')
    p.add_argument('--config', help='a YAML config file to apply on top of the preset')
    p.add_argument('--set', dest='overrides', action='append', default=[], metavar='KEY=VALUE')
    p.add_argument('--online', action='store_true', help="the online trainer's settings too")
    args = p.parse_args(argv)
    try:
        cfg = load_config(args.config, args.overrides, preset_name=args.preset)
    except ConfigError as e:
        print(f'ptr config: {e}', file=sys.stderr)
        return 2
    print(config_text(cfg))
    if args.online:
        print('\n' + online_text())
    return 0


if __name__ == '__main__':
    sys.exit(main())
