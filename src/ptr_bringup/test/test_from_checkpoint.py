"""Graph arguments a checkpoint determines (ptr_bringup.from_checkpoint): the camera renders at
the policy checkpoint's image size and the task is its target task unless given; a given size
that contradicts the checkpoint ends the launch in one line naming both; and a policy node that
meets images of another size anyway exits CONFIG_ERROR once, naming both, instead of idling."""
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from ptr_bringup import graphs, launcher
from ptr_ros.domains import private_domain
from ptr_ros.exit_codes import CONFIG_ERROR

IMAGE = 48


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    from ptr_core.agent import Agent
    from ptr_core.task_registry import TaskRegistry
    from ptr_core.testing import tiny_config
    folder = tmp_path_factory.mktemp('from_ckpt')
    return str(Agent(tiny_config(IMAGE), TaskRegistry.create(['CloseDrawer', 'OpenDrawer'])
                     .to_dict(), 'OpenDrawer').save(folder / 'drawer48.pt'))


def _bridge(specs):
    (bridge,) = [s for s in specs if s.name == 'sim_bridge']
    return bridge.parameters


@pytest.mark.parametrize('graph', ['eval', 'online_finetune'])
def test_image_size_and_task_come_from_the_policy_checkpoint(ckpt, graph):
    given = {'policy_ckpt': ckpt, 'reward_ckpt': ckpt}
    params = _bridge(graphs.GRAPHS[graph].nodes(given))
    assert (params['image_size'], params['task']) == (IMAGE, 'OpenDrawer')
    # the same size given explicitly is fine; another task may be evaluated on purpose
    params = _bridge(graphs.GRAPHS[graph].nodes(given | {'image_size': '48',
                                                         'task': 'CloseDrawer'}))
    assert (params['image_size'], params['task']) == (IMAGE, 'CloseDrawer')


def test_a_size_that_contradicts_the_checkpoint_ends_the_launch_in_one_line(ckpt, capsys):
    assert launcher.main(['eval', f'policy_ckpt:={ckpt}', 'image_size:=64', '--dry-run']) == 2
    err = capsys.readouterr().err
    assert err == (f'ptr launch: argument image_size: 64 contradicts policy_ckpt:={ckpt}, whose '
                   f'network.image_size is 48: leave image_size out (it comes from the '
                   f'checkpoint) or give a checkpoint trained at 64 px\n'), err


def test_an_unreadable_checkpoint_leaves_the_defaults_to_the_policy_node(tmp_path):
    broken = tmp_path / 'broken.pt'
    broken.write_bytes(b'PK\x03\x04 not really a zip')
    params = _bridge(graphs.GRAPHS['eval'].nodes({'policy_ckpt': str(broken)}))
    assert (params['image_size'], params['task']) == (64, 'OpenDoor')


@pytest.mark.ros
@pytest.mark.slow
def test_a_policy_node_fed_images_of_another_size_refuses_once_with_config_error(ckpt):
    import rclpy
    from sensor_msgs.msg import Image

    from ptr_core import rosmsg
    from ptr_ros.qos import sensor_qos
    domain = private_domain()
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), PYTHONUNBUFFERED='1')
    proc = subprocess.Popen([sys.executable, '-m', 'ptr_policy.policy_node', '--ros-args',
                             '-p', f'checkpoint:={ckpt}'], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    node = rclpy.create_node('size_probe', context=ctx)
    pub = node.create_publisher(Image, 'camera/image_raw', sensor_qos())
    try:
        msg = rosmsg.numpy_to_image(np.zeros((64, 64, 3), np.uint8), 'rgb8', Image())
        end = time.monotonic() + 120  # until the node has started and met one
        while proc.poll() is None and time.monotonic() < end:
            pub.publish(msg)
            time.sleep(0.1)
        code = proc.wait(30)
    finally:
        node.destroy_node()
        rclpy.shutdown(context=ctx)
        if proc.poll() is None:
            proc.kill()
    out = proc.stdout.read()
    assert code == CONFIG_ERROR, out
    line = ('policy_node: ConfigRefused: camera/image_raw: expected 48x48 images (the '
            "checkpoint's network.image_size), got 64x64: render at 48 (argument "
            'image_size:=48, or leave it out: it comes from the checkpoint)')
    assert out.strip().splitlines()[-1] == line, out
    assert out.count('expected 48x48') == 1 and 'Traceback' not in out, out
