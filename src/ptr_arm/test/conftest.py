"""The Interbotix stand-in as a fixture: loaded once by its path (the test folder is no package),
its call log cleared for every test."""
import importlib.util
import sys
from pathlib import Path

import pytest

STAND_IN = Path(__file__).with_name('stand_in_interbotix.py')


def load_stand_in():
    if 'stand_in_interbotix' not in sys.modules:
        spec = importlib.util.spec_from_file_location('stand_in_interbotix', STAND_IN)
        module = importlib.util.module_from_spec(spec)
        sys.modules['stand_in_interbotix'] = module
        spec.loader.exec_module(module)
    return sys.modules['stand_in_interbotix']


@pytest.fixture()
def interbotix():
    api = load_stand_in()
    api.CALLS.clear()
    api.LAST = None
    return api
