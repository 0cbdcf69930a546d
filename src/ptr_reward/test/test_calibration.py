"""The operating point of the classifier: episode verdicts, counts and the calibrated threshold,
checked against hand-worked episodes."""
import math

import numpy as np
import pytest

from ptr_reward.calibration import calibrate, count_episodes, declared_frame


def test_declared_frame_needs_consecutive_frames_strictly_above():
    p = np.array([0.9, 0.2, 0.8, 0.95, 0.99])
    assert declared_frame(p, 0.5, 1) == 0
    assert declared_frame(p, 0.5, 2) == 3  # 0.8, 0.95: the run ends at index 3
    assert declared_frame(p, 0.5, 4) is None
    assert declared_frame(np.array([0.5, 0.5]), 0.5, 1) is None  # strictly above


# Four episodes (probabilities, frame labels):
#   A: a near miss with one confident frame, never a success
#   B: a real success from frame 2 on
#   C: a success the classifier is unsure of (0.6, 0.6)
#   D: a failure that looks like a success for two frames (0.7, 0.7)
EPISODES = [
    (np.array([0.1, 0.95, 0.1, 0.1]), np.array([0, 0, 0, 0])),
    (np.array([0.1, 0.3, 0.9, 0.9]), np.array([0, 0, 1, 1])),
    (np.array([0.2, 0.6, 0.6, 0.2]), np.array([0, 1, 1, 0])),
    (np.array([0.1, 0.7, 0.7, 0.1]), np.array([0, 0, 0, 0])),
]
PROBS = [p for p, _ in EPISODES]
LABELS = [y for _, y in EPISODES]


def test_counts_by_hand():
    # One frame at 0.5: A (frame 1, wrong), B (frame 2, right), C (frame 1, right), D (wrong).
    c = count_episodes(PROBS, LABELS, 0.5, frames=1)
    assert (c.episodes, c.declared, c.correct, c.successes) == (4, 4, 2, 2)
    assert c.precision == 0.5 and c.recall == 1.0
    # Two frames at 0.5: A is no longer called; B, C right, D wrong.
    c = count_episodes(PROBS, LABELS, 0.5, frames=2)
    assert (c.declared, c.correct) == (3, 2)
    # Two frames above 0.65: B right, D wrong (C's 0.6 is below).
    c = count_episodes(PROBS, LABELS, 0.65, frames=2)
    assert (c.declared, c.correct, c.precision, c.recall) == (2, 1, 0.5, 0.5)
    assert math.isnan(count_episodes(PROBS, LABELS, 0.99, 2).precision)


def test_calibration_takes_the_lowest_threshold_that_reaches_the_precision():
    # With two frames: below 0.6 precision is 2/3; in [0.6, 0.7) B and D are called (1/2);
    # from 0.7 up to 0.9 only B is called: precision 1 at the lowest such threshold.
    cal = calibrate(PROBS, LABELS, target_precision=0.9, frames=2)
    assert cal.met and cal.declared == 1 and cal.correct == 1 and cal.successes == 2
    assert 0.7 <= cal.threshold < 0.9
    assert cal.precision == 1.0 and cal.recall == 0.5
    # A precision of 0.6 is already reached at the floor, 0.5, with both successes found; only
    # a lower floor lets calibration go below it.
    low = calibrate(PROBS, LABELS, target_precision=0.6, frames=2)
    assert low.met and low.threshold == 0.5 and (low.declared, low.correct) == (3, 2)
    lower = calibrate(PROBS, LABELS, target_precision=0.6, frames=2, floor=0.0)
    assert lower.met and lower.threshold < 0.5 and lower.declared >= 3


def test_unreachable_target_returns_the_most_precise_threshold_and_says_so():
    probs = [np.array([0.9, 0.9]), np.array([0.9, 0.9])]
    labels = [np.array([1, 1]), np.array([0, 0])]
    cal = calibrate(probs, labels, target_precision=0.9, frames=1)
    assert not cal.met and cal.precision == 0.5
    assert 'NOT reached' in cal.summary()


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match='target_precision'):
        calibrate(PROBS, LABELS, target_precision=0.0)
    with pytest.raises(ValueError, match='one label array per episode'):
        count_episodes(PROBS, LABELS[:2], 0.5)


def _near_miss_frames(seed: int):
    """Successes show a bright square; 2% of the failures show it too, crossed by a dark bar
    (a near miss); the rest are empty. Returns images, labels and which frames are near misses."""
    rng = np.random.default_rng(seed)
    n_pos, n_easy, n_hard = 200, 780, 20
    imgs = rng.integers(0, 40, (n_pos + n_easy + n_hard, 32, 32, 3), dtype=np.uint8)
    imgs[:n_pos, 8:20, 8:20] = 220
    imgs[n_pos + n_easy:, 8:20, 8:20] = 220
    imgs[n_pos + n_easy:, 13:15, 8:20] = 0
    labels = np.r_[np.ones(n_pos), np.zeros(n_easy + n_hard)].astype(int)
    return imgs, labels, np.r_[np.zeros(n_pos + n_easy), np.ones(n_hard)].astype(bool)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_mining_hard_negatives_stops_near_misses_passing_as_successes(seed):
    import torch

    from ptr_reward.classifier import ClassifierConfig, train_classifier
    torch.set_num_threads(1)
    imgs, labels, near = _near_miss_frames(seed)
    rates = {}
    for hard in (0.0, 0.5):
        cfg = ClassifierConfig(image_size=32, steps=80, hard_negatives=hard, seed=seed,
                               target_precision=0.0, val_fraction=0.01)
        p = train_classifier(imgs, labels, cfg).model.predict_proba(imgs)
        rates[hard] = (float(np.mean(p[near] > 0.5)), float(np.mean(p[labels == 1] > 0.5)))
    # Measured on seeds 0-4: every near miss passes without mining (1.0), none with it (0.0);
    # every success is found either way.
    assert rates[0.0][0] >= 0.5 and rates[0.5][0] <= 0.1, rates
    assert rates[0.5][1] >= 0.95, rates


def test_training_sets_the_calibrated_threshold_from_held_out_episodes():
    import torch

    from ptr_reward.classifier import ClassifierConfig, train_classifier
    torch.set_num_threads(1)
    imgs, labels, _ = _near_miss_frames(0)
    groups = np.arange(len(labels)) // 10  # episodes of 10 frames (labels in runs)
    cfg = ClassifierConfig(image_size=32, steps=40, seed=0, target_precision=0.9,
                           val_fraction=0.3)
    res = train_classifier(imgs, labels, cfg, groups)
    cal = res.calibration
    assert cal is not None and cal.episodes == 30 and cal.frames == 2
    assert res.model.cfg.threshold == pytest.approx(cal.threshold)
    assert cfg.threshold == 0.5  # the caller's config is not changed
    assert cal.met and cal.precision >= 0.9
