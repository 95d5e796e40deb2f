"""Deterministic scikit-learn ``digits`` dataset for LeNet-5.

The 8x8 grey-level images (values 0..16) are upsampled 4x with ``np.kron``
to 32x32, scaled to [0, 1] and normalised with the training-split mean/std.
All arrays are float32 NCHW (N x 1 x 32 x 32); labels are int64.
"""
from __future__ import annotations

import numpy as np

SEED = 0
TEST_FRACTION = 0.25
UPSAMPLE = 4


def _raw():
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images.astype(np.float32), d.target.astype(np.int64)


def split_indices(n: int, seed: int = SEED, test_fraction: float = TEST_FRACTION):
    """Stratification-free, seeded permutation split (75/25 by default)."""
    perm = np.random.RandomState(seed).permutation(n)
    n_test = int(round(n * test_fraction))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def upsample(images: np.ndarray, factor: int = UPSAMPLE) -> np.ndarray:
    """(N, 8, 8) -> (N, 8*factor, 8*factor) by pixel replication."""
    block = np.ones((1, factor, factor), dtype=np.float32)
    return np.kron(images, block).astype(np.float32)


def load(seed: int = SEED):
    """Return ``(x_train, y_train, x_test, y_test)``.

    x_* are float32 arrays of shape (N, 1, 32, 32), normalised with the
    training split's mean and std; y_* are int64 class labels 0..9.
    """
    images, labels = _raw()
    x = upsample(images / 16.0)[:, None, :, :]
    tr, te = split_indices(len(x), seed)
    x_tr, x_te = x[tr], x[te]
    mean = float(x_tr.mean())
    std = float(x_tr.std())
    x_tr = ((x_tr - mean) / std).astype(np.float32)
    x_te = ((x_te - mean) / std).astype(np.float32)
    return (np.ascontiguousarray(x_tr), labels[tr],
            np.ascontiguousarray(x_te), labels[te])


def normalization(seed: int = SEED):
    """(mean, std) applied to [0,1]-scaled pixels, for use outside Python."""
    images, _ = _raw()
    x = upsample(images / 16.0)
    tr, _ = split_indices(len(x), seed)
    return float(x[tr].mean()), float(x[tr].std())
