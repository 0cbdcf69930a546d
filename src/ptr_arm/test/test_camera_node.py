"""The camera node on a video file it did not make (written here with cv2.VideoWriter, MJPG):
rgb8 square images in RGB order, the centred-square and explicit crops, the end of the file,
and a device that cannot be opened; plus the pure frame functions (ptr_arm.camera_frames)."""
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from ptr_arm.camera_frames import crop_box, parse_device, process_frame
from ptr_ros.domains import private_domain
from ptr_ros.exit_codes import CONFIG_ERROR
from ptr_ros.testing import spin_in_background

W, H, SIDE = 160, 120, 20  # frame size; the side bars outside the centred 120x120 square
# One color per frame (BGR as OpenCV writes it) in the centre, yellow side bars.
PALETTE_BGR = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (255, 255, 255)]
YELLOW_BGR = (0, 255, 255)
FRAMES = 8


@pytest.fixture(scope='module')
def video(tmp_path_factory):
    import cv2
    path = tmp_path_factory.mktemp('video') / 'pattern.avi'
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 30.0, (W, H))
    assert out.isOpened()
    for i in range(FRAMES):
        frame = np.empty((H, W, 3), np.uint8)
        frame[:] = YELLOW_BGR
        frame[:, SIDE:W - SIDE] = PALETTE_BGR[i % len(PALETTE_BGR)]
        out.write(frame)
    out.release()
    return path


def _color(img, tol=40):
    """The RGB color an image is (nearly) uniform in, from its inner part (JPEG edges aside)."""
    inner = img[4:-4, 4:-4].reshape(-1, 3).astype(int)
    mean = inner.mean(axis=0)
    assert np.abs(inner - mean).max() <= tol, 'image is not one color'
    return tuple(int(v) for v in np.rint(mean))


def _same(rgb, ref, tol=30):
    return all(abs(a - b) <= tol for a, b in zip(rgb, ref))


@pytest.fixture()
def camera():
    """Start a camera node in-process (its own DDS domain) and collect what it publishes."""
    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image

    from ptr_arm.camera_node import CameraNode
    from ptr_ros.qos import sensor_qos
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=private_domain())
    probe = rclpy.create_node('probe', context=ctx)
    images = []
    probe.create_subscription(Image, 'camera/image_raw', images.append, sensor_qos(10))
    ex = MultiThreadedExecutor(2, context=ctx)
    ex.add_node(probe)
    nodes = []

    def start(**params):
        node = CameraNode(context=ctx, parameter_overrides=[
            Parameter(k, value=v) for k, v in params.items()])
        nodes.append(node)
        ex.add_node(node)
        return node

    stop = spin_in_background(ex)
    yield start, images
    stop()
    for node in nodes:
        node.close()
        node.destroy_node()
    probe.destroy_node()
    rclpy.shutdown(context=ctx)


def _wait(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while not cond() and time.monotonic() < end:
        time.sleep(0.02)
    return cond()


@pytest.mark.ros
def test_frames_arrive_as_square_rgb8_in_rgb_order(camera, video):
    from ptr_core import rosmsg
    start, images = camera
    start(device=str(video), loop=True, fps=30.0, image_size=48, frame_id='cam0')
    assert _wait(lambda: len(images) >= 2 * FRAMES), f'{len(images)} images'
    palette = [tuple(reversed(c)) for c in PALETTE_BGR]  # RGB
    seen = []
    for msg in list(images):
        assert (msg.encoding, msg.height, msg.width, msg.step) == ('rgb8', 48, 48, 144)
        assert msg.header.frame_id == 'cam0'
        color = _color(rosmsg.image_to_numpy(msg))  # the centred square: no yellow
        match = [i for i, c in enumerate(palette) if _same(color, c)]
        assert match, f'{color} is none of {palette}'
        seen.append(match[0])
    assert set(seen) == {0, 1, 2, 3}  # red arrives red (255, 0, 0), not blue
    steps = {(b - a) % 4 for a, b in zip(seen, seen[1:])}
    assert steps <= {1, 2, 3}, seen  # frames in file order (a lost one skips ahead)
    stamps = [rosmsg.stamp_to_ns(m.header.stamp) for m in images]
    assert stamps == sorted(stamps) and abs(stamps[-1] - time.time_ns()) < 5e9


@pytest.mark.ros
def test_crop_and_end_of_file(camera, video):
    from ptr_core import rosmsg
    start, images = camera
    node = start(device=str(video), fps=60.0, crop=[0, 10, SIDE, 100])  # the left bar
    assert _wait(lambda: node.timer.is_canceled(), 10.0), node.frames
    assert _wait(lambda: len(images) >= FRAMES - 2)
    time.sleep(0.2)
    assert node.frames == FRAMES and len(images) <= FRAMES  # stopped at the end of the file
    for msg in images:
        assert (msg.height, msg.width) == (64, 64)
        assert _same(_color(rosmsg.image_to_numpy(msg)), (255, 255, 0))  # yellow in RGB


def test_frame_functions_by_hand():
    assert parse_device('0') == 0 and parse_device(' 2 ') == 2
    assert parse_device('/dev/video0') == '/dev/video0'
    assert crop_box(120, 160) == (20, 0, 120, 120)  # landscape: the centred square
    assert crop_box(160, 120) == (0, 20, 120, 120)  # portrait
    assert crop_box(120, 160, [10, 20, 30, 40]) == (10, 20, 30, 40)
    for bad in ([0, 0, 161, 10], [0, 0, 10], [-1, 0, 5, 5]):
        with pytest.raises(ValueError, match=r'^crop: '):
            crop_box(120, 160, bad)
    bgr = np.zeros((4, 6, 3), np.uint8)
    bgr[:, :, 2] = 200  # red in OpenCV's order
    bgr[1, 2] = (1, 2, 3)
    rgb = process_frame(bgr, (1, 0, 4, 4), 4)
    assert rgb.shape == (4, 4, 3) and rgb.flags['C_CONTIGUOUS']
    assert tuple(rgb[0, 0]) == (200, 0, 0) and tuple(rgb[1, 1]) == (3, 2, 1)
    small = process_frame(np.full((120, 160, 3), 7, np.uint8), crop_box(120, 160), 64)
    assert small.shape == (64, 64, 3) and int(small.min()) == int(small.max()) == 7


@pytest.mark.ros
@pytest.mark.parametrize('device', ['/nonexistent/cam.avi', '7'])
def test_a_device_that_cannot_be_opened_stops_in_one_line(device):
    env = dict(os.environ, ROS_DOMAIN_ID=str(private_domain()))
    out = subprocess.run([sys.executable, '-m', 'ptr_arm.camera_node', '--ros-args', '-p',
                          f'device:={device}'], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == CONFIG_ERROR
    lines = (out.stdout + out.stderr).strip().splitlines()
    assert len(lines) == 1 and 'cannot open camera device' in lines[0], lines
    assert repr(parse_device(device)) in lines[0]


@pytest.mark.ros
def test_ctrl_c_as_ros2_launch_sends_it_stops_cleanly(video):
    """SIGINT to the process group, then again (the terminal, then launch): exit 0 within
    launch's 5 s, no traceback, while frames are being read."""
    from ptr_ros.testing import interrupt_like_ros2_launch
    env = dict(os.environ, ROS_DOMAIN_ID=str(private_domain()), PYTHONUNBUFFERED='1')
    proc = subprocess.Popen([sys.executable, '-m', 'ptr_arm.camera_node', '--ros-args', '-p',
                             f'device:={video}', '-p', 'loop:=true'], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    line = proc.stdout.readline()  # the node is up once it says what it opened
    assert proc.poll() is None, line
    time.sleep(1.0)
    code, out, _, seconds = interrupt_like_ros2_launch(proc)
    assert code == 0 and seconds < 5.0, line + out
    assert 'Traceback' not in line + out
