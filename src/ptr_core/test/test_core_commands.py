"""`python -m ptr_core` runs the learning commands where no ROS is installed."""
import subprocess
import sys

from ptr_core.__main__ import main

NO_ROS = ("import sys, runpy\n"
          "for m in ('rclpy', 'launch', 'launch_ros', 'sensor_msgs', 'std_msgs'):\n"
          "    sys.modules[m] = None  # importing any of them now raises ImportError\n"
          "sys.argv = ['ptr_core'] + sys.argv[1:]\n"
          "runpy.run_module('ptr_core', run_name='__main__')\n")


def test_core_commands_run_with_rclpy_unimportable():
    out = subprocess.run([sys.executable, '-c', NO_ROS, 'config', 'show'], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-1500:]
    assert 'agent.cql_alpha = ' in out.stdout
    out = subprocess.run([sys.executable, '-c', NO_ROS, 'pretrain', '--help'],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and 'usage: ptr pretrain' in out.stdout, out.stderr[-1500:]


def test_unknown_command_is_refused_with_the_usage(capsys):
    assert main(['pretrian']) == 2
    err = capsys.readouterr().err
    assert "unknown command 'pretrian'" in err and 'convert-bag' in err

