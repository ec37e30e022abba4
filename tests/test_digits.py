"""The digits shipped with symnn: checksum, shape, labels, value range, one-hot and split."""

import gzip
import hashlib
from importlib import resources

import numpy as np
import pytest

from symnn.train import DataError, load_digits, one_hot, split
from symnn.train.data import DIGITS_SHA256


def test_checksum_of_the_shipped_file():
    raw = resources.files("symnn").joinpath("data/digits.csv.gz").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == DIGITS_SHA256
    assert len(gzip.decompress(raw).splitlines()) == 1797


def test_shape_labels_and_range():
    x, labels = load_digits()
    assert x.shape == (1797, 64) and x.dtype == np.float64
    assert labels.shape == (1797,)
    assert set(labels.tolist()) == set(range(10))
    assert x.min() == 0 and x.max() == 16 and np.all(x == np.round(x))
    # the UCI description: about 180 images per class (174..183)
    counts = np.bincount(labels, minlength=10)
    assert counts.min() >= 174 and counts.max() <= 183
    # the first image is a 0 (sklearn's digits.images[0]), with a blank border column
    assert labels[0] == 0 and x[0].reshape(8, 8)[:, 0].sum() == 0
    xs, _ = load_digits(scale=True)
    assert xs.max() == 1.0


def test_damaged_file_is_rejected(monkeypatch):
    import symnn.train.data as data

    monkeypatch.setattr(data, "DIGITS_SHA256", "0" * 64)
    with pytest.raises(DataError, match="damaged"):
        data.load_digits()


def test_one_hot_and_labels_out_of_range():
    assert one_hot(np.array([1, 0]), 2).tolist() == [[0.0, 1.0], [1.0, 0.0]]
    with pytest.raises(DataError, match=r"label 10 at row 1 is out of range 0\.\.9"):
        one_hot(np.array([3, 10]), 10)
    with pytest.raises(DataError, match="out of range"):
        one_hot(np.array([-1]), 10)


def test_split_is_a_seeded_partition():
    tr, te = split(100, 0.2, seed=3)
    assert len(te) == 20 and len(tr) == 80
    assert sorted(np.concatenate([tr, te]).tolist()) == list(range(100))
    _, te2 = split(100, 0.2, seed=3)
    assert np.array_equal(te, te2)
    assert not np.array_equal(te, split(100, 0.2, seed=4)[1])
