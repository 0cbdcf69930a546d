"""The success classifier learns, thresholds, balances classes and round-trips through disk."""
import numpy as np
import pytest
import torch

from ptr_reward.classifier import (
    ClassifierConfig,
    SuccessClassifier,
    balanced_accuracy,
    load_classifier,
    reward_from_prob,
    save_classifier,
    to_model_input,
    train_classifier,
)

torch.set_num_threads(1)


def toy_frames(n, size=32, pos_fraction=0.2, seed=0):
    """Noisy frames; 'success' frames have a bright red block on the left (like an open door)."""
    rng = np.random.default_rng(seed)
    imgs = rng.integers(0, 120, (n, size, size, 3), dtype=np.uint8)
    labels = (rng.random(n) < pos_fraction).astype(np.int64)
    for i in np.flatnonzero(labels):
        r, c = rng.integers(4, size // 2 - 4, 2)
        imgs[i, r:r + 10, c:c + 6, 0] = 250
    return imgs, labels


def test_learns_separable_toy_labeling_with_imbalance():
    imgs, labels = toy_frames(400, pos_fraction=0.1)
    cfg = ClassifierConfig(image_size=32, channels=(8, 16), hidden=32, steps=80, batch_size=32,
                           lr=3e-3, seed=1)
    res = train_classifier(imgs, labels, cfg)
    assert res.val_accuracy >= 0.9, res
    # Fresh frames from another seed: the learned rule generalises.
    test_imgs, test_labels = toy_frames(200, pos_fraction=0.5, seed=7)
    p = res.model.predict_proba(test_imgs)
    assert balanced_accuracy(p, test_labels, cfg.threshold) >= 0.9
    assert res.history[-1] < res.history[0]


def test_threshold_logic_is_strict():
    assert reward_from_prob(0.5, 0.5) == 0.0
    assert reward_from_prob(0.5001, 0.5) == 1.0
    assert reward_from_prob(0.49, 0.3) == 1.0
    np.testing.assert_array_equal(reward_from_prob(np.array([0.1, 0.9, 0.7]), 0.7), [0, 1, 0])


def test_balanced_accuracy_hand_computed():
    # Negatives: 3 of 4 right; positives: 1 of 2 right -> (0.75 + 0.5) / 2.
    p = np.array([0.1, 0.2, 0.9, 0.3, 0.8, 0.4])
    y = np.array([0, 0, 0, 0, 1, 1])
    assert balanced_accuracy(p, y, 0.5) == pytest.approx(0.625)


def test_checkpoint_round_trip(tmp_path):
    cfg = ClassifierConfig(image_size=32, channels=(8, 16), hidden=16, threshold=0.7)
    torch.manual_seed(0)
    model = SuccessClassifier(cfg)
    path = save_classifier(tmp_path / 'sub' / 'clf.pt', model, {'val_accuracy': 0.5})
    loaded = load_classifier(path)
    assert loaded.cfg == cfg
    imgs = np.random.default_rng(0).integers(0, 255, (3, 48, 48, 3), dtype=np.uint8)
    np.testing.assert_allclose(loaded.predict_proba(imgs), model.predict_proba(imgs), rtol=1e-6)
    assert [p.name for p in (tmp_path / 'sub').iterdir()] == ['clf.pt']  # no temp debris


def test_load_rejects_foreign_file(tmp_path):
    bad = tmp_path / 'x.pt'
    torch.save({'format': 'other'}, bad)
    with pytest.raises(ValueError, match='format'):
        load_classifier(bad)
    with pytest.raises(FileNotFoundError):
        load_classifier(tmp_path / 'missing.pt')


def test_resize_and_input_errors():
    img = np.full((48, 48, 3), 200, np.uint8)
    t = to_model_input(img, 32)
    assert t.shape == (1, 3, 32, 32) and t.dtype == torch.uint8 and int(t.min()) == 200
    with pytest.raises(ValueError, match='uint8'):
        to_model_input(img.astype(np.float32), 32)
    with pytest.raises(ValueError, match='arch'):
        ClassifierConfig(arch='vgg').validate()


@pytest.mark.parametrize('arch', ['resnet18'])
def test_resnet_gn_shapes(arch):
    cfg = ClassifierConfig(arch=arch, image_size=32)
    model = SuccessClassifier(cfg)
    assert any(isinstance(m, torch.nn.GroupNorm) for m in model.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    out = model(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
    assert out.shape == (2,)
