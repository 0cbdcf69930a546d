"""The installed policy node as its own process on a private DDS domain, driven one lock-step tick
at a time from this process (shared by bench/control_latency.py and bench/soak.py)."""
from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np


def make_checkpoint(path: Path, image_size: int):
    """An untrained ptr_sim_cpu agent (latency does not depend on the weights' values)."""
    from ptr_core.agent import Agent
    from ptr_core.config import parse_overrides, preset
    from ptr_core.task_registry import TaskRegistry
    cfg = preset('ptr_sim_cpu')
    parse_overrides(cfg, [f'network.image_size={image_size}'])
    agent = Agent(cfg, tasks=TaskRegistry.create(['OpenDoor'], 3).to_dict(),
                  target_task='OpenDoor')
    agent.save(path)
    return agent


class PolicyRig:
    """Start the node; `tick(stamp)` publishes one observation and returns the seconds until its
    action arrives (None: lost); `swap(version)` sends signed weights; `close()` stops it."""

    KEY = 'bench-key'

    def __init__(self, image_size: int = 64, prefix: str = 'ptr-bench-') -> None:
        import rclpy
        from rclpy.node import Node
        from sensor_msgs.msg import Image
        from std_msgs.msg import Float32MultiArray, String, UInt8MultiArray

        from ptr_bringup.graphs import NodeSpec
        from ptr_bringup.launcher import find_executable, node_command
        from ptr_bringup.rosenv import ensure_ros_env
        from ptr_core.policy import DeployablePolicy
        from ptr_ros.contracts import PolicyVersion
        from ptr_ros.domains import private_domain
        from ptr_ros.qos import action_qos, latched_qos, sensor_qos
        self.tmp = Path(tempfile.mkdtemp(prefix=prefix))
        ckpt = self.tmp / 'policy.pt'
        self.agent = make_checkpoint(ckpt, image_size)
        self.peer = DeployablePolicy.load(ckpt)
        rng = np.random.default_rng(0)
        self.image = rng.integers(0, 256, (image_size, image_size, 3), dtype=np.uint8)
        self.state = np.array([0.3, 0.0, 0.2, 0.0, 0.0, 0.0, 0.5], np.float32)
        ensure_ros_env()
        self.domain = private_domain()
        spec = NodeSpec('ptr_policy', 'policy_node', 'policy_node', parameters={
            'checkpoint': str(ckpt), 'clock_mode': 'lockstep', 'weights_key': self.KEY,
            'torch_threads': 1})
        self.cmd = node_command(spec, find_executable(spec.package, spec.executable))
        self.log = open(self.tmp / 'policy_node.log', 'w')
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True,
                                     env=dict(os.environ, ROS_DOMAIN_ID=str(self.domain)))
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx, domain_id=self.domain)
        self.node = Node('policy_rig', context=self.ctx)
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        self.got: dict[int, float] = {}
        self.versions: list[tuple[float, int]] = []
        from ptr_core import rosmsg
        self.node.create_subscription(
            Float32MultiArray, 'robot/action',
            lambda m: self.got.setdefault(rosmsg.stamp_tag(m), time.perf_counter()), action_qos())
        self.node.create_subscription(String, 'ptr/policy_version', lambda m: self.versions.append(
            (time.perf_counter(), PolicyVersion.from_msg(m).version)), latched_qos())
        self.pub_img = self.node.create_publisher(Image, 'camera/image_raw', sensor_qos())
        self.pub_state = self.node.create_publisher(Float32MultiArray, 'robot/state',
                                                    sensor_qos())
        self.pub_w = self.node.create_publisher(UInt8MultiArray, 'ptr/policy_weights',
                                                latched_qos())
        self.stamp = 0

    def spin_until(self, cond, limit: float) -> bool:
        end = time.perf_counter() + limit
        while not cond() and time.perf_counter() < end:
            self.executor.spin_once(timeout_sec=0.001)
        return cond()

    def start(self, timeout: float = 120.0) -> None:
        """Until the node runs and the sensor topics are matched both ways."""
        if not self.spin_until(lambda: self.versions, timeout):
            raise RuntimeError('policy node did not come up:\n' + (self.tmp / 'policy_node.log')
                               .read_text()[-2000:])
        while self.tick() is None:
            pass

    def tick(self) -> float | None:
        from sensor_msgs.msg import Image
        from std_msgs.msg import Float32MultiArray, MultiArrayDimension

        from ptr_core import rosmsg
        self.stamp += 1
        stamp = self.stamp
        img = rosmsg.numpy_to_image(self.image, 'rgb8', Image())
        rosmsg.ns_to_stamp(stamp, img.header.stamp)
        st = rosmsg.tag_stamp(rosmsg.numpy_to_float32(self.state, Float32MultiArray()), stamp,
                              MultiArrayDimension)
        t0 = time.perf_counter()
        self.pub_state.publish(st)
        self.pub_img.publish(img)
        if not self.spin_until(lambda: stamp in self.got, 2.0):
            return None
        return self.got.pop(stamp) - t0

    def bare_act(self) -> float:
        """Seconds of the same network's act() in this process: the peer without ROS."""
        t = time.perf_counter()
        self.peer.act(self.image, self.state)
        return time.perf_counter() - t

    def swap(self, version: int, payload: bytes) -> float:
        """Seconds from publishing signed weights to the node reporting them running."""
        from std_msgs.msg import UInt8MultiArray

        from ptr_core import rosmsg, weights
        [packet] = weights.encode(payload, version, self.agent.fingerprint, self.KEY.encode())
        t0 = time.perf_counter()
        self.pub_w.publish(rosmsg.bytes_to_uint8(packet, UInt8MultiArray()))
        if not self.spin_until(lambda: self.versions and self.versions[-1][1] == version, 30):
            raise RuntimeError(f'weights version {version} never reported running')
        return self.versions[-1][0] - t0

    def close(self) -> int:
        """Stop the node with SIGINT (as Ctrl-C); 1 if it had to be killed."""
        import rclpy
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.ctx)
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(20)
            return 0
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return 1
