"""Every command that takes a checkpoint refuses a missing or corrupt one in one stderr line that
names the file, before torch is imported (issue 22: `ptr eval --ckpt bad.pt` printed the path
twice and eight lines of torch's advice after 14 s). Wall times are printed, not asserted."""
import subprocess
import sys
import time

import pytest
import torch


class _Foo:
    """Not plain data: torch's weights-only loader refuses a pickle carrying it."""


def _files(tmp_path):
    """Name -> path of each kind of bad checkpoint."""
    torch.save({'format': 'ptr-agent/1', 'w': torch.zeros(64)}, tmp_path / 'whole.pt')
    whole = (tmp_path / 'whole.pt').read_bytes()
    (tmp_path / 'cut.pt').write_bytes(whole[:len(whole) // 2])  # a copy that stopped halfway
    (tmp_path / 'text.pt').write_text('hello, not a checkpoint\n')
    (tmp_path / 'empty.pt').write_bytes(b'')
    torch.save({'x': _Foo()}, tmp_path / 'code.pt')  # passes the byte check; torch refuses it
    return {k: tmp_path / f'{k}.pt' for k in ('missing', 'cut', 'text', 'empty', 'code')}


def _ptr(tmp_path, *argv):
    start = time.monotonic()
    out = subprocess.run([sys.executable, '-m', 'ptr_bringup.cli', *argv], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    return out, time.monotonic() - start


COMMANDS = {
    'eval': lambda f: ['eval', '--ckpt', f, '--task', 'OpenDrawer', '--episodes', '1'],
    'finetune': lambda f: ['finetune', '--ckpt', f, '--out', 'run', '--target', 'demos',
                           '--target-task', 'OpenDoor'],
    'train awbc': lambda f: ['train', '--algo', 'awbc', '--q-ckpt', f, '--out', 'run',
                             '--target', 'demos', '--target-task', 'OpenDoor'],
    'select': lambda f: ['select', f, '--heldout', 'demos'],
}
WHAT = {'missing': 'not found', 'cut': 'without one (cut off?)',
        'text': "expected a torch zip archive (starting b'PK\\x03\\x04'), got b'hell'",
        'empty': 'got an empty file', 'code': 'Unsupported global'}


@pytest.mark.parametrize('command', COMMANDS)
def test_a_bad_checkpoint_is_one_line_naming_the_file(tmp_path, command):
    (tmp_path / 'demos').mkdir()
    files = _files(tmp_path)
    walls = []
    for kind, path in files.items():
        if kind == 'code' and command != 'eval':
            continue  # the same torch path for all: one command shows it, at torch's pace
        out, wall = _ptr(tmp_path, *COMMANDS[command](path.name))
        walls.append(f'{kind} {wall:.2f} s')
        lines = out.stderr.splitlines()
        assert out.returncode == 2 and len(lines) == 1, (kind, out.stderr)
        assert lines[0].count(path.name) == 1 and WHAT[kind] in lines[0], (kind, lines)
        assert lines[0].startswith(f'ptr {command.split()[0]}: '), lines
        assert 'Traceback' not in out.stdout + out.stderr
    print(f'ptr {command}: ' + ', '.join(walls))
