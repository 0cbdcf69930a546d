"""The blocking service call the worker threads of the episode manager and the reset node use:
an answer, no server, and a server that does not answer in time, each said with the service's
name; and the one-line parameter checks."""
import time

import pytest

from ptr_ros.domains import private_domain
from ptr_ros.nodeutil import ServiceUnavailable, call_service, require_choice
from ptr_ros.testing import spin_in_background

pytestmark = pytest.mark.ros


@pytest.fixture()
def node():
    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=private_domain())
    n = rclpy.create_node('nodeutil_test', context=ctx)
    ex = MultiThreadedExecutor(2, context=ctx)
    ex.add_node(n)
    stop = spin_in_background(ex)
    yield n
    stop()
    n.destroy_node()
    rclpy.shutdown(context=ctx)


def test_call_service_answers_names_a_missing_server_and_a_slow_one(node):
    from rclpy.callback_groups import ReentrantCallbackGroup
    from std_srvs.srv import SetBool

    def answer(request, response):
        if not request.data:
            time.sleep(1.0)  # slower than the caller's timeout below
        response.success, response.message = True, 'done'
        return response
    group = ReentrantCallbackGroup()
    node.create_service(SetBool, 'svc', answer, callback_group=group)
    client = node.create_client(SetBool, 'svc', callback_group=group)
    assert call_service(client, SetBool.Request(data=True), 5.0).message == 'done'
    with pytest.raises(TimeoutError, match=r'^svc: no answer within 0.5 s$'):
        call_service(client, SetBool.Request(data=False), 0.5)
    nobody = node.create_client(SetBool, 'nobody', callback_group=group)
    t0 = time.monotonic()
    with pytest.raises(ServiceUnavailable, match=r'^nobody: service not available$'):
        call_service(nobody, SetBool.Request(), 5.0, wait=0.3)
    assert time.monotonic() - t0 < 3.0
    time.sleep(1.0)  # the slow answer completes before the node goes away


def test_call_service_resends_a_request_that_a_dead_server_took_with_it(node):
    """The first request is lost (as with a server killed while it held it); with `attempt`
    the call sends it again and gets the new server's answer, within the overall timeout."""
    from rclpy.callback_groups import ReentrantCallbackGroup
    from std_srvs.srv import SetBool

    got = []

    def answer(request, response):
        got.append(request.data)
        if len(got) == 1:
            time.sleep(1.5)  # never answered in time: the caller has moved on
        response.success, response.message = True, f'answer {len(got)}'
        return response
    group = ReentrantCallbackGroup()
    node.create_service(SetBool, 'svc2', answer, callback_group=group)
    client = node.create_client(SetBool, 'svc2', callback_group=group)
    t0 = time.monotonic()
    assert call_service(client, SetBool.Request(data=True), 5.0, attempt=0.4).message == \
        'answer 2'
    assert time.monotonic() - t0 < 1.4 and got == [True, True]
    time.sleep(1.5)  # the first, late answer completes before the node goes away


def test_require_choice_names_parameter_choices_and_value():
    assert require_choice({'clock': 'lockstep'}, 'clock', ('lockstep', 'realtime')) == 'lockstep'
    with pytest.raises(ValueError, match=r"^parameter clock: expected one of \('lockstep', "
                                         r"'realtime'\), got 'fast'$"):
        require_choice({'clock': 'fast'}, 'clock', ('lockstep', 'realtime'))
