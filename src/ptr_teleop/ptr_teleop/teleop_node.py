"""Teleop node: a person's keys (or SpaceMouse) -> robot/action at the control rate, and the
episode commands that the bag recorder follows.

Subscribes  robot/state       std_msgs/Float32MultiArray: one action per observation, so the
                              operator acts at the robot's 5 Hz whatever the key repeat rate
            teleop/recorded   std_msgs/String JSON (BagRecorded): the recorder's confirmation
Publishes   robot/action      std_msgs/Float32MultiArray (7, normalized): in a graph remapped
                              to safety/action_in (the same filter as the policy's actions)
            teleop/episode    std_msgs/String JSON (TeleopEvent): start / success / failure /
                              discard
Calls       robot/reset       std_srvs/Trigger: every episode starts from a reset scene (sim)
                              or the home pose (arm)
Keys come from the terminal, a pipe or a FIFO (ptr_teleop.keyboard); the key map is printed at
start and a live line shows the episode, the step and the last action.
"""
from __future__ import annotations

import collections
import contextlib
import os
import sys
import time
from typing import Any

import rclpy
from rclpy.node import Node
from std_msgs.msg import Float32MultiArray, String
from std_srvs.srv import Trigger

from ptr_core import rosmsg
from ptr_ros.contracts import BagRecorded, ContractError, ResetReply, TeleopEvent
from ptr_ros.nodeutil import dataclass_parameters, dataclass_values, declare, require_choice, run
from ptr_ros.qos import action_qos, event_qos, latched_qos, sensor_qos
from ptr_teleop.keyboard import KeyReader, NoKeyboard, cbreak, open_keys
from ptr_teleop.spacemouse import SpaceMouse
from ptr_teleop.teleop import COMMAND_KEYS, Mixer, Session, TeleopConfig, key_map_text, status_line

INPUTS = ('keyboard', 'spacemouse')
PARAMETERS: dict[str, object] = {
    'task': 'OpenDoor',
    'input': 'keyboard',  # 'spacemouse': motion from the puck; the keys still give commands
    'keys_from': '',  # a FIFO or file of keys instead of the terminal (scripted operators)
    'notes': '',  # operator notes stored with every episode (who, what was special)
    'first_episode': 0,
    'status_every': 1.0,  # s between status lines when the output is not a terminal
    'reset_timeout': 30.0,
    'require_recorder': True,  # start an episode only when a recorder listens
} | dataclass_parameters(TeleopConfig)


class TeleopNode(Node):
    """Wires keys, the state stream and the reset service to ptr_teleop.teleop."""

    def __init__(self, **node_options: Any) -> None:
        super().__init__('teleop', **node_options)
        p = declare(self, PARAMETERS)
        source = require_choice(p, 'input', INPUTS)
        self.mixer = Mixer(TeleopConfig(**dataclass_values(TeleopConfig, p)))
        self.session = Session(str(p['task']), int(p['first_episode']))
        self.notes = str(p['notes'])
        self.reset_timeout = float(p['reset_timeout'])
        self.require_recorder = bool(p['require_recorder'])
        self.status_every = float(p['status_every'])
        self.live = sys.stdout.isatty()
        self.keys: collections.deque[str] = collections.deque()
        self.starting: float | None = None  # monotonic time a reset was requested
        self.start_stamp = 0
        self.last_action = self.mixer.take()
        self.last_line = 0.0
        self.spacemouse = SpaceMouse.open(self.get_logger()) if source == 'spacemouse' else None
        self.pub_action = self.create_publisher(Float32MultiArray, 'robot/action', action_qos())
        self.pub_event = self.create_publisher(String, TeleopEvent.TOPIC, event_qos())
        self.create_subscription(Float32MultiArray, 'robot/state', self.on_state, sensor_qos())
        self.create_subscription(String, BagRecorded.TOPIC, self.on_recorded,
                                 latched_qos(BagRecorded.DEPTH))
        self.reset_client = self.create_client(Trigger, 'robot/reset')
        self.create_timer(0.02, self.on_keys)
        fd, owned = open_keys(str(p['keys_from']))
        self._exit = contextlib.ExitStack()  # undone in close(), in reverse order
        if owned:
            self._exit.callback(os.close, fd)
        self._exit.enter_context(cbreak(fd))
        self.reader = KeyReader(fd, self.keys.append, lambda: self.keys.append('<eof>'))
        self.reader.start()
        print(key_map_text(), flush=True)
        self.say(f'teleop: task {self.session.task}, input {source}; n starts an episode')

    # -- output for the operator --------------------------------------------------------------
    def say(self, text: str) -> None:
        """A line that stays (events); the live line is redrawn below it."""
        if self.live:
            sys.stdout.write('\r\x1b[K')
        print(text, flush=True)

    def show(self) -> None:
        line = status_line(self.session, self.last_action)
        if self.live:
            sys.stdout.write('\r\x1b[K' + line)
            sys.stdout.flush()
        elif time.monotonic() - self.last_line >= self.status_every:
            self.last_line = time.monotonic()
            print(line, flush=True)

    # -- keys ---------------------------------------------------------------------------------
    def on_keys(self) -> None:
        while self.keys:
            key = self.keys.popleft()
            if key == '<eof>':
                self.say('teleop: key input closed (no more keys will arrive)')
            elif not self.mixer.press(key) and key in COMMAND_KEYS:
                self.command(COMMAND_KEYS[key])
        if self.starting is not None and time.monotonic() - self.starting > self.reset_timeout:
            self.starting = None
            self.session.cancel()
            self.say(f'teleop: robot/reset did not answer within {self.reset_timeout:g} s; '
                     'episode not started')

    def command(self, name: str) -> None:
        if self.starting is not None and name != 'quit':
            self.say('teleop: waiting for the reset; try again when the episode has started')
            return
        event = self.session.command(name)
        if event is None:
            self.say(f'teleop: {self.session.why}')
        elif event == 'start':
            self.start_episode()
        elif event == 'quit':
            self.quit()
        else:
            self.end_episode(event)

    def start_episode(self) -> None:
        if not self.reset_client.service_is_ready():
            self.session.cancel()
            self.say('teleop: robot/reset is not available (is the robot bridge running?)')
            return
        if self.require_recorder and self.pub_event.get_subscription_count() == 0:
            self.session.cancel()  # a demonstration nobody records is lost work
            self.say(f'teleop: no bag recorder is listening on {TeleopEvent.TOPIC}; episode '
                     'not started (require_recorder:=false to drive without recording)')
            return
        self.starting = time.monotonic()
        self.mixer.reset()
        self.reset_client.call_async(Trigger.Request()).add_done_callback(self.on_reset_done)

    def on_reset_done(self, future) -> None:
        if self.starting is None:  # timed out meanwhile
            return
        self.starting = None
        ep = self.session.episode
        try:
            reply = future.result()
            stamp = ResetReply.from_json(reply.message).stamp_ns if reply.success else -1
        except Exception as e:  # noqa: BLE001 - a failed call or a bad reply: reported
            stamp, why = -1, str(e)
        else:
            why = reply.message
        if stamp < 0 or ep is None:
            self.session.cancel()
            self.say(f'teleop: reset failed ({why}); episode not started')
            return
        self.start_stamp = stamp
        self.publish_event('start', ep.number, stamp)
        self.say(f'teleop: episode {ep.number} started (recording)')

    def end_episode(self, outcome: str) -> None:
        ep = self.session.ended()
        if ep is not None:
            self.publish_event(outcome, ep.number, self.start_stamp)
            self.say(f'teleop: episode {ep.number} ended after {ep.steps} steps: {outcome}')

    def quit(self) -> None:
        if self.session.recording:
            self.end_episode('discard')
        self.say('teleop: quit')
        rclpy.try_shutdown()  # the executor returns; main() exits with code 0

    def publish_event(self, event: str, number: int, stamp: int) -> None:
        self.pub_event.publish(TeleopEvent(event, number, self.session.task, stamp,
                                           self.notes).to_msg())

    # -- the control loop -----------------------------------------------------------------------
    def on_state(self, msg) -> None:
        if self.spacemouse is not None:
            axes, buttons = self.spacemouse.read()
            self.mixer.deflect(axes, buttons)
        action = self.mixer.take()
        tag = rosmsg.stamp_tag(msg)
        acting = self.session.recording and self.starting is None and (
            tag is None or tag >= self.start_stamp)
        if not acting:  # between episodes the arm holds (and the filter's watchdog stays quiet)
            action[:6] = 0.0
        self.pub_action.publish(rosmsg.numpy_to_float32(action, Float32MultiArray()))
        if acting:
            self.session.step()
        self.last_action = action
        self.show()

    def on_recorded(self, msg) -> None:
        try:
            rec = BagRecorded.from_msg(msg)
        except ContractError as e:
            self.get_logger().warning(str(e))
            return
        where = rec.path or 'nothing kept'
        why = f' ({rec.reason}: record it again)' if rec.reason else ''
        self.say(f'teleop: episode {rec.episode} {rec.outcome}{why}: {where} '
                 f'({rec.messages} messages)')

    def close(self) -> None:
        self.reader.stop()
        self._exit.close()  # the terminal restored, our descriptor closed
        if self.live:
            sys.stdout.write('\n')


def teleop() -> TeleopNode:
    """The node, or a one-line refusal when there is nothing to read keys from."""
    try:
        return TeleopNode()
    except NoKeyboard as e:
        raise ValueError(str(e)) from None


def main(args: list[str] | None = None) -> int:
    return run(teleop, args)


if __name__ == '__main__':
    sys.exit(main())
