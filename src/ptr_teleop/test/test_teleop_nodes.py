"""The teleop node and the recorder refuse what they cannot work with, in one line, exit
CONFIG_ERROR (not respawned); and both stop cleanly from Ctrl-C as `ros2 launch` delivers it
(SIGINT twice)."""
import os
import subprocess
import sys
import time

import pytest

from ptr_ros.domains import private_domain
from ptr_ros.exit_codes import CONFIG_ERROR
from ptr_ros.testing import interrupt_like_ros2_launch

pytestmark = pytest.mark.ros


def _node(module, *params, stdin=subprocess.DEVNULL, tmp_path=None):
    env = dict(os.environ, ROS_DOMAIN_ID=str(private_domain()), PYTHONUNBUFFERED='1')
    cmd = [sys.executable, '-m', module, '--ros-args']
    for p in params:
        cmd += ['-p', p]
    # a new session: no controlling terminal, as under `ptr launch`
    return subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, start_new_session=True, cwd=tmp_path)


def test_teleop_without_any_keyboard_says_how_to_get_one():
    proc = _node('ptr_teleop.teleop_node')
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == CONFIG_ERROR, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and 'no terminal to read keys from' in lines[0]
    assert 'keys_from' in lines[0]


def test_teleop_refuses_a_missing_key_fifo_and_an_unknown_input():
    proc = _node('ptr_teleop.teleop_node', 'keys_from:=/nonexistent/keys')
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == CONFIG_ERROR and "keys_from '/nonexistent/keys': cannot open" in err
    proc = _node('ptr_teleop.teleop_node', 'input:=joystick', stdin=subprocess.PIPE)
    _, err = proc.communicate('', timeout=60)
    assert proc.returncode == CONFIG_ERROR and 'parameter input: expected one of' in err


def test_recorder_needs_an_output_folder():
    proc = _node('ptr_teleop.recorder_node')
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == CONFIG_ERROR and 'parameter out: expected the folder' in err


@pytest.mark.parametrize('module', ['ptr_teleop.teleop_node', 'ptr_teleop.recorder_node'])
def test_double_sigint_exits_zero_without_a_traceback(module, tmp_path):
    proc = _node(module, f'out:={tmp_path / "demos"}', stdin=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if module.endswith('recorder_node') and (tmp_path / 'demos').is_dir():
            break
        if module.endswith('teleop_node'):
            line = proc.stdout.readline()
            if 'n starts an episode' in line:
                break
        time.sleep(0.1)
    time.sleep(1.0)
    code, _, err, seconds = interrupt_like_ros2_launch(proc)
    assert code == 0, err
    assert seconds < 5.0 and 'Traceback' not in err
