"""Domain ids: the limit is the middleware's own (checked against it), and nodes refuse a bad id
in one line instead of letting Fast DDS exit(1) inside their constructor."""
import os
import subprocess
import sys

import pytest

from ptr_ros import domains
from ptr_ros.exit_codes import CONFIG_ERROR

PROBE = """
import rclpy
ctx = rclpy.Context()
rclpy.init(context=ctx, domain_id={domain})
rclpy.create_node('probe', context=ctx).destroy_node()
rclpy.shutdown(context=ctx)
print('participant created')
"""


@pytest.mark.parametrize('value,expected', [('0', 0), ('232', 232), (' 17 ', 17), (101, 101)])
def test_usable_ids_parse(value, expected):
    assert domains.parse_domain_id(value) == expected


@pytest.mark.parametrize('value', ['233', '-1', 'seven', '1.5', ''])
def test_unusable_ids_are_refused_in_one_line(value):
    with pytest.raises(domains.DomainError) as e:
        domains.parse_domain_id(value, 'PTR_DEMO_DOMAIN')
    assert str(e.value) == (f'PTR_DEMO_DOMAIN: expected an integer in 0..232 (Fast DDS exits on '
                            f'larger ids), got {value!r}')


def test_environment_unset_or_blank_is_domain_zero_and_set_is_checked():
    assert domains.check_environment({}) is None
    assert domains.check_environment({'ROS_DOMAIN_ID': ' '}) is None
    assert domains.check_environment({'ROS_DOMAIN_ID': '42'}) == 42
    with pytest.raises(domains.DomainError, match="got '250'"):
        domains.check_environment({'ROS_DOMAIN_ID': '250'})


def test_private_ids_stay_below_the_ephemeral_port_range():
    drawn = {domains.private_domain() for _ in range(2000)}
    assert min(drawn) >= 1 and max(drawn) <= 101
    assert len(drawn) > 90  # spread: two concurrent runs rarely meet


@pytest.mark.ros
@pytest.mark.parametrize('domain,works', [(domains.MAX_DOMAIN_ID, True),
                                          (domains.MAX_DOMAIN_ID + 1, False)])
def test_the_limit_is_fast_dds_own(domain, works):
    """The reason for the check, measured: one past the limit the process exits with 1."""
    out = subprocess.run([sys.executable, '-c', PROBE.format(domain=domain)], capture_output=True,
                         text=True, timeout=60)
    if works:
        assert out.returncode == 0 and 'participant created' in out.stdout, out.stderr
    else:
        assert out.returncode == 1 and 'participant created' not in out.stdout
        assert 'port number is too high' in out.stdout + out.stderr


@pytest.mark.ros
def test_a_node_refuses_a_bad_domain_id_in_one_line():
    out = subprocess.run([sys.executable, '-m', 'ptr_reward.reward_node'], capture_output=True,
                         text=True, timeout=60, env=dict(os.environ, ROS_DOMAIN_ID='300'))
    assert out.returncode == CONFIG_ERROR  # not respawned: the environment must change
    assert out.stderr == ("RewardNode: ROS_DOMAIN_ID: expected an integer in 0..232 (Fast DDS "
                          "exits on larger ids), got '300'\n")
