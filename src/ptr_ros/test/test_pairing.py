"""Observation pairing by stamp and the reset decision direction."""
import threading
import time

import numpy as np
import pytest

from ptr_reset.reset_node import make_is_reset
from ptr_ros.pairing import ObservationPairer


def test_pairs_only_matching_stamps():
    p = ObservationPairer()
    p.add_image(10, np.zeros((2, 2, 3), np.uint8))
    p.add_state(9, np.zeros(7, np.float32))
    assert p.latest is None  # state of another tick
    p.add_state(10, np.ones(7, np.float32))
    assert p.latest.stamp_ns == 10 and p.latest.state[0] == 1
    p.add_state(20, np.full(7, 2, np.float32))  # state first, image second
    assert p.latest.stamp_ns == 10
    p.add_image(20, np.ones((2, 2, 3), np.uint8))
    assert p.latest.stamp_ns == 20 and p.latest.state[0] == 2


def test_untagged_states_pair_with_newest_image():
    p = ObservationPairer()
    p.add_image(10, np.zeros((2, 2, 3), np.uint8))
    p.add_state(None, np.full(7, 3, np.float32))
    assert p.latest.stamp_ns == 10 and p.latest.state[0] == 3


def test_wait_newer_blocks_until_a_fresh_pair():
    p = ObservationPairer()
    p.add_image(5, np.zeros((2, 2, 3), np.uint8))
    p.add_state(5, np.zeros(7, np.float32))
    assert p.wait_newer(5, 0.01) is None
    assert p.wait_newer(4, 0.01).stamp_ns == 5

    def later():
        time.sleep(0.05)
        p.add_state(6, np.zeros(7, np.float32))
        p.add_image(6, np.zeros((2, 2, 3), np.uint8))
    t = threading.Thread(target=later)
    t.start()
    obs = p.wait_newer(5, 5.0)
    t.join()
    assert obs is not None and obs.stamp_ns == 6


def test_reset_direction():
    class Obs:
        image = None
    below = make_is_reset(lambda img: 0.2, 'below', 0.5)
    above = make_is_reset(lambda img: 0.2, 'above', 0.5)
    assert below(Obs()) and not above(Obs())
    with pytest.raises(ValueError, match='reset_when'):
        make_is_reset(lambda img: 0.0, 'sideways', 0.5)
