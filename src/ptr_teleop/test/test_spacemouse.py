"""The SpaceMouse input over a stand-in of `pyspacemouse` (module-level open()/read(), state
with x y z roll pitch yaw and buttons, as its README documents): readings, and the messages
when the library or the device is missing (the keyboard keeps working)."""
import sys
from types import SimpleNamespace

import numpy as np

from ptr_teleop.spacemouse import INSTALL_HINT, SpaceMouse


class Logger:
    def __init__(self):
        self.lines = []

    def warning(self, text):
        self.lines.append(text)


class StandInPySpaceMouse:
    """Stands in for the `pyspacemouse` module (no HID device here)."""

    def __init__(self, attached=True, state=None):
        self.attached = attached
        self.state = state

    def open(self, callback=None, button_callback=None, device=None):
        return object() if self.attached else None

    def read(self):
        return self.state


def test_readings_become_axes_and_buttons():
    state = SimpleNamespace(t=0.0, x=0.5, y=-1.4, z=0.0, roll=0.1, pitch=0.0, yaw=-0.2,
                            buttons=[1, 0])
    mouse = SpaceMouse.open(Logger(), StandInPySpaceMouse(state=state))
    axes, buttons = mouse.read()
    np.testing.assert_allclose(axes, [0.5, -1.0, 0.0, 0.1, 0.0, -0.2])  # clipped to the range
    assert buttons == (True, False)


def test_missing_device_or_library_is_said_once_and_gives_none(monkeypatch):
    log = Logger()
    assert SpaceMouse.open(log, StandInPySpaceMouse(attached=False)) is None
    assert log.lines == ['SpaceMouse: no device attached; keyboard only']
    monkeypatch.setitem(sys.modules, 'pyspacemouse', None)  # import fails
    log = Logger()
    assert SpaceMouse.open(log) is None and log.lines == [INSTALL_HINT]
