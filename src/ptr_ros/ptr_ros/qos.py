"""The QoS profiles of the topic contract (DESIGN.md s5), built in one place so every node agrees.

Mismatched QoS fails silently in DDS (a reliable subscriber never hears a best-effort publisher),
so nodes never spell these out themselves.
"""
from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy


def sensor_qos(depth: int = 2) -> QoSProfile:
    """Camera images and robot state: best effort, keep last (a stale frame is worse than none)."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE)


def action_qos() -> QoSProfile:
    """Actions: reliable, depth 1 (only the newest command matters, but it must arrive)."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


def latched_qos(depth: int = 1) -> QoSProfile:
    """Weights and 'current version': reliable + transient local: late joiners get the latest."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


def event_qos(depth: int = 10) -> QoSProfile:
    """Low-rate events (rewards, episodes, success flags): reliable, a short queue, volatile."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)
