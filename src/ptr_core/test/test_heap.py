"""ptr_core.heap: the allocator tuning takes effect (fewer page faults) and changes no number."""
import platform
import resource
import subprocess
import sys

import pytest

from ptr_core.heap import keep_freed_memory

glibc = pytest.mark.skipif(platform.libc_ver()[0] != 'glibc', reason='glibc only')

# Ten steps of a conv -> ReLU -> max-pool forward and backward at a training batch's size (the
# shape of the encoder's first stage): the default allocator maps its activations afresh and
# faults their pages in every step; the tuned heap keeps them.
_PROBE = """
import resource, sys
import torch
torch.set_num_threads(1)
if sys.argv[1] == "1":
    from ptr_core.heap import keep_freed_memory
    assert keep_freed_memory()
conv = torch.nn.Conv2d(3, 16, 3, padding=1)
x = torch.rand(64, 3, 64, 64)
def step():
    y = torch.nn.functional.max_pool2d(torch.relu(conv(x)), 3, 2, 1)
    y.square().mean().backward()
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(tuned: bool) -> int:
    out = subprocess.run([sys.executable, '-c', _PROBE, '1' if tuned else '0'], check=True,
                         capture_output=True, text=True).stdout
    return int(out.split()[-1])


@glibc
def test_activations_are_reused_instead_of_faulted_in_every_step():
    default, tuned = _faults(False), _faults(True)
    one_map = (64 * 16 * 64 * 64 * 4) // resource.getpagesize()  # pages of one conv output
    assert default > 10 * one_map, (default, one_map)  # the default faults every step
    assert tuned < default / 3, (tuned, default)


@glibc
def test_is_idempotent():
    assert keep_freed_memory() is keep_freed_memory() is True
