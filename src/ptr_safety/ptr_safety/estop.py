"""`ptr estop`: latch the e-stop of the running graph(s) on this DDS domain, or clear it.

Latching publishes true on ptr/estop (reliable, transient local) and waits until every safety
filter listening has acknowledged it; clearing calls ptr/estop_reset, the only way to clear it.
"""
from __future__ import annotations

import argparse
import sys
import time


def _topic(namespace: str, name: str) -> str:
    return f'/{namespace.strip("/")}/{name}' if namespace.strip('/') else name


def latch(node, namespace: str, timeout: float) -> tuple[bool, str]:
    from std_msgs.msg import Bool

    from ptr_ros.qos import latched_qos
    pub = node.create_publisher(Bool, _topic(namespace, 'ptr/estop'), latched_qos())
    end = time.monotonic() + timeout
    while pub.get_subscription_count() == 0 and time.monotonic() < end:
        time.sleep(0.05)
    if pub.get_subscription_count() == 0:
        return False, f'no safety filter subscribes to {pub.topic_name} within {timeout:g} s'
    pub.publish(Bool(data=True))
    if not pub.wait_for_all_acked(_duration(max(0.1, end - time.monotonic()))):
        return False, f'{pub.topic_name}: not acknowledged within {timeout:g} s'
    return True, f'e-stop latched ({pub.get_subscription_count()} safety filter(s))'


def reset(node, namespace: str, timeout: float) -> tuple[bool, str]:
    import rclpy
    from std_srvs.srv import Trigger
    client = node.create_client(Trigger, _topic(namespace, 'ptr/estop_reset'))
    if not client.wait_for_service(timeout_sec=timeout):
        return False, f'{client.srv_name}: service not available within {timeout:g} s'
    fut = client.call_async(Trigger.Request())
    rclpy.spin_until_future_complete(node, fut, timeout_sec=timeout)  # this thread, no other
    if not fut.done():
        return False, f'{client.srv_name}: no answer within {timeout:g} s'
    return bool(fut.result().success), str(fut.result().message)


def _duration(seconds: float):
    from rclpy.duration import Duration
    return Duration(nanoseconds=int(seconds * 1e9))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog='ptr estop', description=__doc__.split('\n')[0])
    ap.add_argument('--reset', action='store_true', help='clear the latched e-stop')
    ap.add_argument('--namespace', default='', help="the graph's ROS namespace")
    ap.add_argument('--timeout', type=float, default=10.0, help='seconds to find the filter')
    args = ap.parse_args(argv)
    import rclpy

    from ptr_ros.domains import DomainError, check_environment
    try:
        check_environment()
    except DomainError as e:
        print(f'ptr estop: {e}', file=sys.stderr)
        return 2
    rclpy.init()
    node = rclpy.create_node('ptr_estop')
    try:
        ok, message = (reset if args.reset else latch)(node, args.namespace, args.timeout)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    print(f'ptr estop: {message}', file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
