"""A small multi-layer perceptron classifier with a flat parameter vector.

The network maps features :math:`a_0 = x \\in \\mathbb R^{n_0}` through

.. math::

    a_l = \\phi(a_{l-1} W_l^\\top + b_l), \\quad l = 1, \\dots, L-1, \\qquad
    z = a_{L-1} W_L^\\top + b_L,

with :math:`\\phi = \\tanh` or ReLU, and is trained on the mean softmax cross-entropy
plus an optional L2 penalty on the weight matrices (not the biases):

.. math::

    f(\\theta) = \\frac1N \\sum_{n=1}^N \\Big(\\log \\sum_k e^{z_{nk}} - z_{n y_n}\\Big)
    + \\frac{\\lambda}{2} \\sum_l \\lVert W_l \\rVert_F^2 .

All parameters live in one flat vector ``theta`` so that any optimizer written for
``(fun, grad)`` can train the network. Layer ``l`` occupies ``W_l`` (shape
``(n_l, n_{l-1})``, row-major: row ``i`` is the incoming weight vector of unit ``i``,
the "particle" of KO's collisions) followed by ``b_l`` (shape ``(n_l,)``).
"""
from __future__ import annotations

import numpy as np

__all__ = ["MLPProblem", "DATASETS", "ACTIVATIONS"]

DATASETS = ("digits", "blobs")
ACTIVATIONS = ("tanh", "relu")
SPLITS = ("train", "test")


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _make_blobs(n_samples: int, n_features: int, n_classes: int, std: float,
                rng: np.random.Generator):
    """Isotropic Gaussian clusters, one per class, centres uniform in [-10, 10]^n."""
    centres = rng.uniform(-10.0, 10.0, size=(n_classes, n_features))
    y = np.arange(n_samples) % n_classes
    y = y[rng.permutation(n_samples)]
    X = centres[y] + std * rng.standard_normal((n_samples, n_features))
    return X, y


def _stratified_split(y: np.ndarray, test_fraction: float, rng: np.random.Generator):
    """Indices (train, test); each class contributes round(fraction * count) test samples."""
    train, test = [], []
    for k in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == k))
        n_test = int(round(test_fraction * idx.size))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


class MLPProblem:
    """Classification with a fully connected network, as a smooth objective of ``theta``.

    Parameters
    ----------
    sizes : sequence of int, default (64, 32, 10)
        Layer widths ``(n_0, n_1, ..., n_L)``: ``n_0`` features, ``n_L`` classes, at
        least one layer (``len(sizes) >= 2``).
    dataset : {'digits', 'blobs'} or (X, y), default 'digits'
        ``'digits'``: scikit-learn's bundled 8x8 handwritten digits (1797 samples,
        64 features, 10 classes; needs ``sizes[0] == 64`` and ``sizes[-1] == 10``).
        ``'blobs'``: ``n_samples`` points in ``sizes[0]`` dimensions from ``sizes[-1]``
        isotropic Gaussian clusters of standard deviation ``blob_std`` with centres
        uniform in :math:`[-10, 10]^{n_0}`, generated from ``seed`` (no files).
        A tuple ``(X, y)`` uses the given features (N, n_0) and labels
        ``0 .. sizes[-1]-1``.
    seed : int, default 0
        Seeds the blob generator, the stratified train/test split and the default
        initialisation.
    test_fraction : float, default 0.25
        Fraction of each class held out for testing, in ``[0, 1)``.
    weight_decay : float, default 0.0
        L2 coefficient :math:`\\lambda \\ge 0` on the weight matrices.
    batch : int, optional
        Mini-batch size used by :meth:`stochastic_fun_and_grad`; ``None`` means the full
        training set. :meth:`fun`, :meth:`grad` and :meth:`fun_and_grad` are always
        full-batch and deterministic.
    activation : {'tanh', 'relu'}, default 'tanh'
        Hidden-layer nonlinearity.
    n_samples : int, default 600
        Number of generated points for ``dataset='blobs'``.
    blob_std : float, default 1.0
        Cluster standard deviation for ``dataset='blobs'``.

    Notes
    -----
    Features are standardised with the mean and standard deviation of the training
    split (constant features get standard deviation 1).
    """

    def __init__(self, sizes=(64, 32, 10), dataset="digits", seed: int = 0,
                 test_fraction: float = 0.25, weight_decay: float = 0.0, batch=None, *,
                 activation: str = "tanh", n_samples: int = 600, blob_std: float = 1.0):
        try:
            sizes = tuple(sizes)
        except TypeError:
            raise TypeError(f"sizes must be a sequence of positive integers, got {sizes!r}") from None
        if len(sizes) < 2:
            raise ValueError(f"sizes needs at least an input and an output width, got {sizes!r}")
        self.sizes = tuple(_positive_int(s, "sizes[%d]" % i) for i, s in enumerate(sizes))
        if self.sizes[-1] < 2:
            raise ValueError(f"sizes[-1] (number of classes) must be >= 2, got {self.sizes[-1]}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seed must be an integer, got {seed!r}")
        self.seed = int(seed)
        if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float, np.floating)) \
                or not 0.0 <= float(test_fraction) < 1.0:
            raise ValueError(f"test_fraction must be a number in [0, 1), got {test_fraction!r}")
        self.test_fraction = float(test_fraction)
        if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float, np.floating)) \
                or not (np.isfinite(weight_decay) and weight_decay >= 0.0):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
        self.weight_decay = float(weight_decay)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.activation = activation

        X, y = self._load(dataset, n_samples, blob_std)
        rng = np.random.default_rng(self.seed)
        train, test = _stratified_split(y, self.test_fraction, rng)
        if train.size == 0:
            raise ValueError("the training split is empty; lower test_fraction")
        mu = X[train].mean(axis=0)
        sd = X[train].std(axis=0)
        sd[sd == 0.0] = 1.0
        self.feature_mean, self.feature_std = mu, sd
        self.X_train, self.y_train = (X[train] - mu) / sd, y[train]
        self.X_test, self.y_test = (X[test] - mu) / sd, y[test]
        self.n_train, self.n_test = int(train.size), int(test.size)

        if batch is not None:
            batch = _positive_int(batch, "batch")
            if batch > self.n_train:
                raise ValueError(f"batch must be <= the number of training samples "
                                 f"({self.n_train}), got {batch}")
        self.batch = batch

        w_sl, b_sl, shapes = [], [], []
        start = 0
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:]):
            w_sl.append(slice(start, start + n_in * n_out))
            start += n_in * n_out
            b_sl.append(slice(start, start + n_out))
            start += n_out
            shapes.append((n_out, n_in))
        #: slices of ``theta`` holding each weight matrix (row-major, shape ``weight_shapes[l]``)
        self.weight_slices = tuple(w_sl)
        #: slices of ``theta`` holding each bias vector
        self.bias_slices = tuple(b_sl)
        #: shape ``(n_out, n_in)`` of each weight matrix; its rows are the units' weight vectors
        self.weight_shapes = tuple(shapes)
        #: number of parameters
        self.dim = start

    # ------------------------------------------------------------------ data
    def _load(self, dataset, n_samples, blob_std):
        n_in, n_cls = self.sizes[0], self.sizes[-1]
        if isinstance(dataset, str):
            if dataset not in DATASETS:
                raise ValueError(f"dataset must be one of {DATASETS} or a tuple (X, y), "
                                 f"got {dataset!r}")
            if dataset == "digits":
                try:
                    from sklearn.datasets import load_digits
                except ImportError:
                    raise ImportError(
                        "dataset='digits' needs scikit-learn, which ships the data; install it "
                        "with `pip install dynopt-physics[ml]` (or `pip install scikit-learn`), "
                        "or use dataset='blobs'") from None

                data = load_digits()
                X, y = data.data.astype(float), data.target.astype(np.int64)
            else:
                n_samples = _positive_int(n_samples, "n_samples")
                if isinstance(blob_std, bool) or not isinstance(blob_std, (int, float, np.floating)) \
                        or not (np.isfinite(blob_std) and blob_std > 0.0):
                    raise ValueError(f"blob_std must be a positive number, got {blob_std!r}")
                X, y = _make_blobs(n_samples, n_in, n_cls, float(blob_std),
                                   np.random.default_rng([self.seed, 1]))
            self.dataset = dataset
        elif isinstance(dataset, tuple) and len(dataset) == 2:
            X = np.asarray(dataset[0], dtype=float)
            y = np.asarray(dataset[1])
            if X.ndim != 2 or y.shape != (X.shape[0],):
                raise ValueError(f"dataset (X, y) needs X of shape (N, n_features) and y of "
                                 f"shape (N,), got {X.shape} and {y.shape}")
            if not np.issubdtype(y.dtype, np.integer):
                raise TypeError(f"dataset labels y must be integers, got dtype {y.dtype}")
            if not np.all(np.isfinite(X)):
                raise ValueError("dataset features X contain non-finite values")
            if y.size and (y.min() < 0 or y.max() >= n_cls):
                raise ValueError(f"dataset labels y must lie in 0..{n_cls - 1} "
                                 f"(sizes[-1] = {n_cls}), got range {y.min()}..{y.max()}")
            y = y.astype(np.int64)
            self.dataset = "custom"
        else:
            raise TypeError(f"dataset must be one of {DATASETS} or a tuple (X, y), "
                            f"got {type(dataset).__name__}")
        if X.shape[1] != n_in:
            raise ValueError(f"sizes[0] must equal the number of features ({X.shape[1]}) of "
                             f"dataset {self.dataset!r}, got {n_in}")
        if self.dataset == "digits" and n_cls != 10:
            raise ValueError(f"sizes[-1] must be 10 (classes) for dataset 'digits', got {n_cls}")
        return X, y

    # ------------------------------------------------------------------ parameters
    def _check_theta(self, theta) -> np.ndarray:
        t = np.asarray(theta, dtype=float)
        if t.shape != (self.dim,):
            raise ValueError(f"theta must have shape ({self.dim},), got {t.shape}")
        return t

    def init_params(self, seed=None) -> np.ndarray:
        """Random initial parameters.

        Weights are Glorot-uniform, :math:`U(\\pm\\sqrt{6/(n_{in}+n_{out})})`, for
        ``tanh`` (Glorot & Bengio, AISTATS 2010) and He-normal,
        :math:`\\mathcal N(0, 2/n_{in})`, for ``relu`` (He et al., ICCV 2015); biases are
        zero.

        Parameters
        ----------
        seed : int or numpy.random.Generator, optional
            Default: the problem's ``seed``.

        Returns
        -------
        ndarray, shape (dim,)
        """
        if seed is None:
            seed = self.seed
        if isinstance(seed, np.random.Generator):
            rng = seed
        elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            rng = np.random.default_rng([int(seed), 2])
        else:
            raise TypeError(f"seed must be an int or a numpy.random.Generator, got {seed!r}")
        theta = np.zeros(self.dim)
        for sl, (n_out, n_in) in zip(self.weight_slices, self.weight_shapes):
            if self.activation == "tanh":
                a = np.sqrt(6.0 / (n_in + n_out))
                theta[sl] = rng.uniform(-a, a, size=n_out * n_in)
            else:
                theta[sl] = rng.normal(0.0, np.sqrt(2.0 / n_in), size=n_out * n_in)
        return theta

    def layers(self, theta) -> list:
        """Views ``[(W_1, b_1), ..., (W_L, b_L)]`` into ``theta``.

        The arrays share memory with ``theta`` when it is a contiguous float64 vector,
        so writing into them changes ``theta``.
        """
        t = self._check_theta(theta)
        return [(t[ws].reshape(shape), t[bs])
                for ws, bs, shape in zip(self.weight_slices, self.bias_slices, self.weight_shapes)]

    # ------------------------------------------------------------------ model
    def _forward(self, theta, X):
        acts, pre = [X], []
        layers = self.layers(theta)
        a = X
        for l, (W, b) in enumerate(layers):
            z = a @ W.T + b
            pre.append(z)
            if l < len(layers) - 1:
                a = np.tanh(z) if self.activation == "tanh" else np.maximum(z, 0.0)
                acts.append(a)
        return layers, acts, pre

    def predict_proba(self, theta, X) -> np.ndarray:
        """Class probabilities (softmax of the logits) for features ``X`` (already standardised)."""
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.sizes[0]:
            raise ValueError(f"X must have shape (N, {self.sizes[0]}), got {X.shape}")
        z = self._forward(self._check_theta(theta), X)[2][-1]
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, theta, X) -> np.ndarray:
        """Predicted class labels for features ``X`` (already standardised)."""
        return np.argmax(self.predict_proba(theta, X), axis=1)

    def accuracy(self, theta, split: str = "test") -> float:
        """Fraction of correctly classified samples of ``split`` ('train' or 'test')."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        X, y = (self.X_train, self.y_train) if split == "train" else (self.X_test, self.y_test)
        if y.size == 0:
            raise ValueError(f"the {split!r} split is empty (test_fraction = {self.test_fraction})")
        return float(np.mean(self.predict(theta, X) == y))

    # ------------------------------------------------------------------ objective
    def fun_and_grad(self, theta, idx=None):
        """Loss and gradient on the training set (or the training samples ``idx``).

        Parameters
        ----------
        theta : array_like, shape (dim,)
        idx : array_like of int, optional
            Indices into the training split; default all (full batch).

        Returns
        -------
        (float, ndarray of shape (dim,))
        """
        t = self._check_theta(theta)
        if idx is None:
            X, y = self.X_train, self.y_train
        else:
            idx = np.asarray(idx)
            if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
                raise ValueError(f"idx must be a non-empty 1-D integer array, got {idx!r}")
            X, y = self.X_train[idx], self.y_train[idx]
        n = y.size
        layers, acts, pre = self._forward(t, X)
        z = pre[-1]
        zmax = z.max(axis=1, keepdims=True)
        e = np.exp(z - zmax)
        s = e.sum(axis=1, keepdims=True)
        rows = np.arange(n)
        loss = float(np.mean(np.log(s[:, 0]) + zmax[:, 0] - z[rows, y]))

        grad = np.zeros(self.dim)
        dz = e / s
        dz[rows, y] -= 1.0
        dz /= n
        for l in range(len(layers) - 1, -1, -1):
            W = layers[l][0]
            grad[self.weight_slices[l]] = (dz.T @ acts[l] + self.weight_decay * W).ravel()
            grad[self.bias_slices[l]] = dz.sum(axis=0)
            if l > 0:
                da = dz @ W
                if self.activation == "tanh":
                    dz = da * (1.0 - acts[l] ** 2)
                else:
                    dz = da * (pre[l - 1] > 0.0)
        if self.weight_decay:
            loss += 0.5 * self.weight_decay * sum(float(np.sum(W * W)) for W, _ in layers)
        return loss, grad

    def fun(self, theta) -> float:
        """Full-batch training loss."""
        return self.fun_and_grad(theta)[0]

    def grad(self, theta) -> np.ndarray:
        """Full-batch gradient of the training loss."""
        return self.fun_and_grad(theta)[1]

    def sample_batch(self, rng: np.random.Generator) -> np.ndarray:
        """Indices of one mini-batch of ``batch`` training samples, drawn without replacement."""
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        size = self.n_train if self.batch is None else self.batch
        return np.sort(rng.choice(self.n_train, size=size, replace=False))

    def stochastic_fun_and_grad(self, theta, rng: np.random.Generator):
        """Loss and gradient on one mini-batch from :meth:`sample_batch`."""
        return self.fun_and_grad(theta, self.sample_batch(rng))

    def __repr__(self) -> str:
        return (f"MLPProblem(sizes={self.sizes}, dataset={self.dataset!r}, seed={self.seed}, "
                f"activation={self.activation!r}, dim={self.dim})")
