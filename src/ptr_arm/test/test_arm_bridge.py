"""The arm bridge node over real DDS (its own domain) with the Interbotix stand-in: actions become
planned targets and joint commands, robot/state comes out, robot/reset goes home; Ctrl-C and
SIGTERM park the arm before the driver shuts down; without Interbotix it stops in one line."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ptr_ros.domains import private_domain
from ptr_ros.exit_codes import CONFIG_ERROR
from ptr_ros.testing import spin_in_background, stop_process

pytestmark = pytest.mark.ros
TEST_DIR = Path(__file__).parent


def _wait(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while not cond() and time.monotonic() < end:
        time.sleep(0.02)
    return cond()


@pytest.fixture()
def graph(interbotix):
    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.parameter import Parameter
    from std_msgs.msg import Float32MultiArray
    from std_srvs.srv import Trigger

    from ptr_arm.arm_bridge import ArmBridgeNode
    from ptr_ros.qos import action_qos, sensor_qos
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=private_domain())
    node = ArmBridgeNode(api=interbotix, context=ctx, parameter_overrides=[
        Parameter('task', value='OpenDrawer'), Parameter('status_period', value=0.0)])
    probe = rclpy.create_node('probe', context=ctx)
    ex = MultiThreadedExecutor(2, context=ctx)
    ex.add_node(node)
    ex.add_node(probe)
    stop = spin_in_background(ex)
    g = type('G', (), {})()
    g.node, g.probe, g.states, g.api = node, probe, [], interbotix
    g.pub = probe.create_publisher(Float32MultiArray, 'robot/action', action_qos())
    g.reset = probe.create_client(Trigger, 'robot/reset')
    probe.create_subscription(Float32MultiArray, 'robot/state', g.states.append, sensor_qos())
    yield g
    stop()
    node.close()
    node.destroy_node()
    probe.destroy_node()
    rclpy.shutdown(context=ctx)


def _state(g, near, timeout=5.0):
    """The first robot/state within 1e-3 of `near` (its first len(near) values)."""
    def match():
        return any(np.allclose(np.asarray(m.data)[:len(near)], near, atol=1e-3)
                   for m in list(g.states))
    assert _wait(match, timeout), f'no state near {near}; last {list(g.states[-1:])}'


def test_actions_move_the_arm_and_reset_goes_home(graph):
    from std_msgs.msg import Float32MultiArray
    from std_srvs.srv import Trigger

    from ptr_core import rosmsg
    from ptr_ros.contracts import ResetReply
    g, api = graph, graph.api
    home = [0.28, 0.0, 0.18, 0.0, 1.3, 0.0, 1.0]
    assert api.calls('set_joint_positions')[0]['blocking'] is True  # reset_on_start
    _state(g, home)
    assert rosmsg.stamp_tag(g.states[-1]) is None  # untagged: pairs with the newest image
    assert _wait(lambda: g.pub.get_subscription_count() > 0)
    action = np.array([1.0, 0, 0, 0, 0, 0, 1.0], np.float32)  # dx +0.05 m, gripper open
    g.pub.publish(rosmsg.numpy_to_float32(action, Float32MultiArray()))
    _state(g, [0.33, 0.0, 0.18, 0.0, 1.3, 0.0])
    step = [kw for kw in api.calls('set_ee_pose_components') if kw['blocking'] is False
            and abs(kw['x'] - 0.33) < 1e-6]
    assert len(step) == 1 and step[0]['execute'] is False and step[0]['z'] == pytest.approx(0.18)
    assert api.calls('set_joint_positions')[-1]['blocking'] is False
    g.pub.publish(rosmsg.numpy_to_float32(np.zeros(5, np.float32), Float32MultiArray()))
    assert _wait(lambda: g.node.arm.counts['bad_actions'] == 1)

    assert g.reset.wait_for_service(timeout_sec=10.0)
    n = len(api.calls('set_ee_pose_components'))
    fut = g.reset.call_async(Trigger.Request())
    assert _wait(fut.done, 10.0)
    res = fut.result()
    assert res.success, res.message
    reply = ResetReply.from_json(res.message)
    assert reply.task == 'OpenDrawer' and reply.episode == 1
    assert abs(reply.stamp_ns - time.time_ns()) < 5e9
    plan = api.calls('set_ee_pose_components')[n]
    assert (plan['x'], plan['z'], plan['pitch']) == pytest.approx((0.28, 0.18, 1.3))
    assert api.calls('set_joint_positions')[-1]['blocking'] is True
    _state(g, home)


def _run_bridge(tmp_path, domain):
    code = ('import sys; sys.path.insert(0, sys.argv[1]); import stand_in_interbotix as api; '
            'from ptr_arm.arm_bridge import main; sys.exit(main(api=api))')
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain),
               STAND_IN_INTERBOTIX_LOG=str(tmp_path / 'calls.json'))
    proc = subprocess.Popen([sys.executable, '-c', code, str(TEST_DIR)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    assert _wait(lambda: any('at 5 Hz' in ln for ln in lines), 20.0), ''.join(lines)
    return proc, lines


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
def test_a_signal_parks_the_arm_then_shuts_the_driver_down(tmp_path, sig):
    proc, lines = _run_bridge(tmp_path, private_domain())
    time.sleep(0.5)  # a few control ticks
    proc.send_signal(sig)
    try:
        rc = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        rc, _ = stop_process(proc)
    out = ''.join(lines)
    assert rc == 0, out
    assert 'arm in its sleep pose' in out and 'Traceback' not in out, out
    names = [n for n, _ in json.loads((tmp_path / 'calls.json').read_text())]
    assert names[-2:] == ['go_to_sleep_pose', 'robot_shutdown'], names
    sleep = json.loads((tmp_path / 'calls.json').read_text())[-2][1]
    assert sleep == {'moving_time': 2.0, 'accel_time': 0.3, 'blocking': True}


def test_without_interbotix_the_bridge_stops_in_one_line():
    from ptr_arm.hardware import InterbotixMissing, require_interbotix
    with pytest.raises(InterbotixMissing, match='^robot:=widowx needs interbotix_xs_modules'):
        require_interbotix()
    env = dict(os.environ, ROS_DOMAIN_ID=str(private_domain()))
    out = subprocess.run([sys.executable, '-m', 'ptr_arm.arm_bridge'], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == CONFIG_ERROR
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        'arm_bridge: robot:=widowx needs interbotix_xs_modules ('), out.stderr
    assert 'install the Interbotix ROS 2 arm packages' in lines[0]
