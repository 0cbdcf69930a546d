"""The QoS profiles match the topic contract (DESIGN.md s5)."""
from rclpy.qos import DurabilityPolicy, HistoryPolicy, ReliabilityPolicy

from ptr_ros import qos


def test_profiles_follow_the_contract():
    s = qos.sensor_qos()
    assert s.reliability == ReliabilityPolicy.BEST_EFFORT and s.history == HistoryPolicy.KEEP_LAST
    assert 1 <= s.depth <= 5
    a = qos.action_qos()
    assert (a.reliability, a.depth) == (ReliabilityPolicy.RELIABLE, 1)
    w = qos.latched_qos()
    assert w.reliability == ReliabilityPolicy.RELIABLE
    assert w.durability == DurabilityPolicy.TRANSIENT_LOCAL
