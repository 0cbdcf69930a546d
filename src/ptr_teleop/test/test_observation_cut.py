"""Where a bag begins and ends: on whole observations (image + state of one stamp)."""
from ptr_teleop.observation_cut import ObservationCut, demo_problem

IMG, STATE = 'camera/image_raw', 'robot/state'


def _cut(keep=4):
    return ObservationCut(IMG, STATE, keep)


def test_opens_with_the_newest_whole_observation_and_any_newer_half():
    cut = _cut()
    cut.hold(IMG, 100, 1, b'i100')
    cut.hold(STATE, 200, 2, b's200')  # the image of 200 was dropped
    cut.hold(STATE, 300, 3, b's300')
    cut.hold(IMG, 300, 4, b'i300')
    cut.hold(STATE, 400, 5, b's400')  # its image is on its way
    assert cut.opening() == [(STATE, 3, b's300'), (IMG, 4, b'i300'), (STATE, 5, b's400')]
    assert cut.opening() == []  # what was held is gone once a bag took it


def test_untagged_states_open_with_the_newest_of_each_topic():
    cut = _cut()
    cut.hold(IMG, 100, 1, b'i100')
    cut.hold(STATE, None, 2, b'sA')
    cut.hold(IMG, 133, 3, b'i133')
    cut.hold(STATE, None, 4, b'sB')
    assert cut.opening() == [(IMG, 3, b'i133'), (STATE, 4, b'sB')]


def test_waits_only_for_the_missing_half_of_the_newest_observations():
    cut = _cut()
    for topic, stamp in [(STATE, 100), (IMG, 100), (STATE, 200)]:
        cut.wrote(topic, stamp)
    assert cut.unfinished() == {200: {IMG}}
    assert cut.completes(IMG, 200)
    assert not cut.completes(STATE, 200) and not cut.completes(IMG, 300)  # a new observation
    assert not cut.completes('robot/action', 200) and not cut.completes(IMG, None)
    cut.wrote(IMG, 200)
    assert cut.unfinished() == {} and not cut.completes(IMG, 200)


def test_an_older_half_is_a_dropped_frame_not_awaited():
    cut = _cut()
    for topic, stamp in [(STATE, 100), (STATE, 200), (IMG, 200), (IMG, 300)]:
        cut.wrote(topic, stamp)  # image 100 dropped; state 300 on its way
    assert cut.unfinished() == {300: {STATE}}


def test_nothing_pairs_without_tagged_states():
    cut = _cut()
    for stamp in (100, 133, 166):
        cut.wrote(IMG, stamp)
        cut.wrote(STATE, None)
    assert cut.unfinished() == {} and not cut.completes(STATE, None)


def test_memory_is_bounded():
    cut = _cut(keep=3)
    for stamp in range(10):
        cut.hold(IMG, stamp, stamp, b'i')
        cut.hold(STATE, stamp, stamp, b's')
        cut.wrote(IMG, stamp)
        cut.wrote(STATE, stamp)
    assert len(cut._held) == 3 and len(cut._written) == 3
    assert [m[1] for m in cut.opening()] == [9, 9]


def test_opens_at_the_resets_observation_though_its_image_is_still_on_its_way():
    cut = _cut()
    cut.hold(STATE, 100, 1, b's100')
    cut.hold(IMG, 100, 2, b'i100')
    cut.hold(STATE, 200, 3, b's200')  # the reset's observation
    assert cut.opening(first=200) == [(STATE, 3, b's200')]
    cut.hold(STATE, 100, 1, b's100')
    cut.hold(IMG, 100, 2, b'i100')
    assert cut.opening(first=300) == []  # still on its way: it is written when it comes
    cut.hold(STATE, 100, 1, b's100')
    cut.hold(IMG, 100, 2, b'i100')
    assert cut.opening(first=0) == [(STATE, 1, b's100'), (IMG, 2, b'i100')]  # 0: unknown


def test_what_a_bag_opens_with_counts_as_written():
    cut = _cut()
    cut.hold(STATE, 300, 1, b's300')
    cut.hold(IMG, 300, 2, b'i300')
    cut.hold(STATE, 400, 3, b's400')
    cut.opening(first=300)
    assert cut.unfinished() == {400: {IMG}} and cut.completes(IMG, 400)


def test_a_bag_of_states_without_any_image_waits_for_their_images():
    """Under load every image of a short episode can lag behind its end event: the newest
    states' images are awaited instead of the bag being closed image-less."""
    cut = _cut()
    for stamp in (100, 200):
        cut.wrote(STATE, stamp)
    assert cut.unfinished() == {100: {IMG}, 200: {IMG}}
    assert cut.completes(IMG, 100) and cut.completes(IMG, 200) and not cut.completes(IMG, 300)
    cut.wrote(IMG, 100)  # one arrived: from now on only the newer one is awaited
    assert cut.unfinished() == {200: {IMG}}
    cut.wrote(IMG, 200)
    assert cut.unfinished() == {}


def test_only_a_bag_with_images_and_states_can_be_a_demonstration():
    assert demo_problem({IMG: 3, STATE: 3, 'robot/action': 2}, IMG, STATE) is None
    assert demo_problem({IMG: 0, STATE: 4}, IMG, STATE) == 'no camera/image_raw recorded'
    assert demo_problem({}, IMG, STATE) == 'no camera/image_raw and no robot/state recorded'
