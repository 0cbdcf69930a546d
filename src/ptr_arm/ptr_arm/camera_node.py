"""Camera node: the real robot's camera/image_raw from a device, a video file or a stream (OpenCV).

Publishes camera/image_raw  sensor_msgs/Image rgb8, image_size x image_size, stamped with the
                            time the frame was read, frame_id `frame_id` (sensor data QoS)
A timer at `fps` reads one frame per tick; the frame is cropped (a centred square unless `crop`
says otherwise), resized and turned from OpenCV's BGR into RGB (ptr_arm.camera_frames).
A device that cannot be opened stops the node at once with one line naming it (exit code
ptr_ros.exit_codes.CONFIG_ERROR: not respawned).
At the end of a video file the node stops publishing and says so, or with `loop` starts over;
it keeps running either way, so a launch graph is not torn down by a finished file.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import cv2
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from sensor_msgs.msg import Image

from ptr_arm.camera_frames import crop_box, parse_device, process_frame
from ptr_core import rosmsg
from ptr_ros.nodeutil import Throttle, declare, run
from ptr_ros.qos import sensor_qos

PARAMETERS: dict[str, object] = {
    'device': '0',  # camera index ('0'), device path ('/dev/video0'), video file or stream URL
    'width': 0,  # frame size requested from a device; 0 keeps the device's own
    'height': 0,
    'fps': 30.0,  # frames read and published per second (a device is asked for this rate too)
    'crop': [0, 0, 0, 0],  # x, y, w, h in frame pixels; w or h 0: the largest centred square
    'image_size': 64,  # side of the published square image (the policy's input size)
    'frame_id': 'camera',
    'loop': False,  # a video file: start again at its end instead of stopping
}


def open_capture(source: int | str, width: int, height: int, fps: float) -> Any:
    """An opened cv2.VideoCapture, or a one-line OSError naming the device."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # our line says it all
    try:
        cap = cv2.VideoCapture(source)
    finally:
        cv2.utils.logging.setLogLevel(level)
    if not cap.isOpened():
        raise OSError(f'cannot open camera device {source!r} (expected an index, a '
                      f'/dev/video* path, a video file or a stream URL)')
    if not _is_file(source):  # a file plays as it is; a device is asked for size and rate
        if width > 0 and height > 0:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        cap.set(cv2.CAP_PROP_FPS, fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not a queued one
    return cap


def _is_file(source: int | str) -> bool:
    return isinstance(source, str) and Path(source).is_file()


class CameraNode(Node):
    """The shell: parameters, the capture, the timer; frame processing is ptr_core's."""

    def __init__(self, **node_options: Any) -> None:
        super().__init__('camera', **node_options)
        p = declare(self, {k: v for k, v in PARAMETERS.items() if k != 'device'})
        # `device:=0` arrives as an integer, `device:=/dev/video0` as a string: accept both.
        device = self.declare_parameter('device', PARAMETERS['device'],
                                        ParameterDescriptor(dynamic_typing=True)).value
        self.size, self.fps = int(p['image_size']), float(p['fps'])
        if self.size <= 0 or self.fps <= 0:
            raise ValueError(f'camera: expected image_size > 0 and fps > 0, got {self.size}, '
                             f'{self.fps:g}')
        self.crop = [int(v) for v in p['crop']]
        crop_box(1 << 16, 1 << 16, self.crop)  # its format, before the device is opened
        self.source = parse_device(str(device))
        self.is_file, self.loop = _is_file(self.source), bool(p['loop'])
        self.cap = open_capture(self.source, int(p['width']), int(p['height']), self.fps)
        w = int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        h = int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if w > 0 and h > 0:  # a crop that misses the frame is refused now, not at a frame
            crop_box(h, w, self.crop)
        self.frame_id = str(p['frame_id'])
        self.frame_hw: tuple[int, int] | None = None
        self.box = (0, 0, 0, 0)
        self.frames = 0
        self.failures = 0
        self.warn = Throttle(5.0)
        self.pub = self.create_publisher(Image, 'camera/image_raw', sensor_qos())
        self.timer = self.create_timer(1.0 / self.fps, self.on_timer)
        self.get_logger().info(f'camera {self.source!r}: {self.size}x{self.size} rgb8 at '
                               f'{self.fps:g} fps')

    def on_timer(self) -> None:
        ok, frame = self.cap.read()
        if not ok and self.is_file and self.loop and self.frames:
            self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self.cap.read()
        stamp = self.get_clock().now().nanoseconds
        if not ok:
            self._no_frame()
            return
        self.failures = 0
        if frame.shape[:2] != self.frame_hw:  # the first frame (or the stream changed size)
            self.frame_hw = frame.shape[:2]
            self.box = crop_box(frame.shape[0], frame.shape[1], self.crop)
        msg = rosmsg.numpy_to_image(process_frame(frame, self.box, self.size), 'rgb8', Image())
        rosmsg.ns_to_stamp(stamp, msg.header.stamp)
        msg.header.frame_id = self.frame_id
        self.pub.publish(msg)
        self.frames += 1

    def _no_frame(self) -> None:
        if self.is_file:
            self.timer.cancel()
            self.get_logger().info(f'end of {self.source} after {self.frames} frames: no more '
                                   f'images (loop:=true plays it again)')
            return
        self.failures += 1
        if self.warn('read'):
            self.get_logger().warning(f'camera {self.source!r}: no frame '
                                      f'({self.failures} reads in a row)')

    def close(self) -> None:
        self.cap.release()


def main(args: list[str] | None = None) -> int:
    return run(CameraNode, args)


if __name__ == '__main__':
    sys.exit(main())
