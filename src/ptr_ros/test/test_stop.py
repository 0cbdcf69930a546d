"""nodeutil.run()'s stop (ptr_ros.stop), on a stand-in node in a process of its own, with Ctrl-C
as ros2 launch delivers it (SIGINT to the process group, then again): close() runs with ROS still
up and may log through it, a worker thread busy inside torch does not abort the exit, and a
signal while the node is still being built ends it with 0 too."""
import os
import subprocess
import sys
import textwrap
import time

import pytest

from ptr_ros.domains import private_domain
from ptr_ros.testing import interrupt_like_ros2_launch

pytestmark = pytest.mark.ros

NODE = """
    import sys, threading, time
    import torch
    from rclpy.node import Node
    from ptr_ros.nodeutil import run

    class Busy(Node):
        '''A worker thread in torch until the end, and a close() that logs through ROS.'''
        def __init__(self):
            print('building', flush=True)
            time.sleep(float(sys.argv[1]))  # a slow construction (checkpoints, datasets)
            super().__init__('busy')
            self.create_timer(0.05, lambda: None)
            threading.Thread(target=self.work, daemon=True).start()
            print('ready', flush=True)

        def work(self):
            a = torch.randn(256, 256)
            while True:
                a = torch.tanh(a @ a)

        def close(self):
            self.get_logger().info(f'closing, context ok: {self.context.ok()}')

    sys.exit(run(Busy))
"""


def _start(tmp_path, build_s: float) -> subprocess.Popen:
    script = tmp_path / 'busy_node.py'
    script.write_text(textwrap.dedent(NODE))
    env = {'ROS_DOMAIN_ID': str(private_domain()), 'PYTHONUNBUFFERED': '1'}
    return subprocess.Popen([sys.executable, str(script), str(build_s)], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, **env), start_new_session=True)


def test_ctrl_c_closes_with_ros_up_and_exits_0_quietly_beside_a_torch_thread(tmp_path):
    proc = _start(tmp_path, 0.0)
    assert [proc.stdout.readline().strip() for _ in range(2)] == ['building', 'ready']
    time.sleep(0.5)  # the worker is inside torch now
    code, out, err, seconds = interrupt_like_ros2_launch(proc)
    assert code == 0, (out, err)
    assert 'closing, context ok: True' in err, err
    for bad in ('terminate called', 'rosout', 'Traceback', 'KeyboardInterrupt'):
        assert bad not in out + err, (out, err)
    assert seconds < 5.0, seconds  # launch's sigterm_timeout


def test_ctrl_c_while_the_node_is_built_exits_0(tmp_path):
    proc = _start(tmp_path, 30.0)
    assert proc.stdout.readline().strip() == 'building'  # inside the 30 s construction
    code, out, err, seconds = interrupt_like_ros2_launch(proc)
    assert code == 0 and 'ready' not in out, (out, err)
    assert 'Traceback' not in err and 'KeyboardInterrupt' not in err, err
    assert seconds < 5.0, seconds
