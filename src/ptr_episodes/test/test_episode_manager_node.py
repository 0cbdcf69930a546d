"""The episode manager node, built in this process: it starts no episode before every recorded
topic has a publisher, and refuses a bad configuration in one line."""
import json
import threading
import time

import pytest

from ptr_ros.domains import private_domain

pytestmark = pytest.mark.ros


@pytest.fixture()
def ctx():
    import rclpy
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=private_domain())
    yield context
    rclpy.shutdown(context=context)


def test_the_first_episode_starts_only_once_every_input_is_connected(ctx, tmp_path):
    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image
    from std_msgs.msg import Float32MultiArray, String
    from std_srvs.srv import SetBool, Trigger

    from ptr_episodes.episode_manager import EpisodeManagerNode

    probe = rclpy.create_node('probe', context=ctx)
    resets: list[float] = []

    def on_reset(request, response):
        resets.append(time.monotonic())
        response.success, response.message = True, json.dumps({'stamp_ns': 1})
        return response

    probe.create_service(Trigger, 'robot/reset', on_reset)
    probe.create_service(SetBool, 'ptr/policy_enable', lambda req, res: res)
    node = EpisodeManagerNode(context=ctx, parameter_overrides=[
        Parameter('episode_dir', value=str(tmp_path / 'episodes')),
        Parameter('use_reset_node', value=False), Parameter('max_episodes', value=1),
        Parameter('exit_when_done', value=False), Parameter('service_timeout', value=5.0)])
    ex = MultiThreadedExecutor(4, context=ctx)
    ex.add_node(node)
    ex.add_node(probe)
    spinner = threading.Thread(target=ex.spin, daemon=True)
    spinner.start()
    try:
        time.sleep(3.0)
        assert resets == [], 'robot/reset was called before any input had a publisher'
        from ptr_ros.qos import event_qos, sensor_qos
        connected_at = time.monotonic()
        keep = [probe.create_publisher(Image, 'camera/image_raw', sensor_qos()),
                probe.create_publisher(Float32MultiArray, 'robot/state', sensor_qos()),
                probe.create_publisher(Float32MultiArray, 'robot/action', 10),
                probe.create_publisher(String, 'ptr/reward_info', event_qos())]
        deadline = time.monotonic() + 15
        while not resets and time.monotonic() < deadline:
            time.sleep(0.05)
        assert resets and resets[0] >= connected_at and len(keep) == 4
        t0 = time.monotonic()
        node.close()
        assert not node.worker.is_alive() and time.monotonic() - t0 < 5.0
    finally:
        ex.shutdown(timeout_sec=1.0)
        node.destroy_node()


def test_a_bad_transfer_is_refused_in_one_line(ctx, tmp_path):
    from rclpy.parameter import Parameter

    from ptr_episodes.episode_manager import EpisodeManagerNode
    with pytest.raises(ValueError, match=r"^parameter transfer: expected one of \('file', "
                                         r"'inline'\), got 'ftp'$"):
        EpisodeManagerNode(context=ctx, parameter_overrides=[
            Parameter('episode_dir', value=str(tmp_path)), Parameter('transfer', value='ftp')])
