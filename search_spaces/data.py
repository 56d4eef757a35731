"""Datasets for the model spaces: scikit-learn's bundled data, or the user's own.

Nothing is downloaded: :func:`load_dataset` reads the datasets scikit-learn ships
(``digits``: 1,797 8x8 grey images of 10 digits; ``breast_cancer``: 569 x 30 features,
2 classes; ``wine``: 178 x 13 features, 3 classes) and splits them, stratified, into
fixed train / validation / test parts of 60 / 20 / 20 %. Standardization is fitted on
the training split only:

.. math::

    \\tilde x = \\frac{x - \\mu_{\\text{train}}}{\\sigma_{\\text{train}}}

per feature for the ``"flat"`` layout (a feature with :math:`\\sigma = 0` is only
centred), and with one scalar :math:`\\mu, \\sigma` over all pixels for the ``"image"``
layout (so constant border pixels stay constant).

**Your own data.** A :class:`Dataset` is what every model space's ``build``,
``example_input`` and ``train`` take, so any data can be searched:

* tensors: ``Dataset.from_tensors(x_train, y_train, x_val, y_val, x_test, y_test)``
  with ``x`` float tensors of shape ``(N, *input_shape)`` (``(N, F)`` for the
  ``"flat"`` layout, ``(N, C, H, W)`` for ``"image"``) and ``y`` integer class labels;
* DataLoaders: ``Dataset.from_loaders(train_loader, val_loader, test_loader,
  num_classes=10)``; each loader yields ``(x, y)`` batches. The training loop then
  iterates your loaders as they are (their batch size and order win over the config's
  ``batch_size``; make the train loader's shuffling seeded if you want determinism).

Example:
    >>> from effobj.spaces.data import load_dataset
    >>> d = load_dataset("wine")
    >>> d.input_shape, d.num_classes, d.layout, len(d.y_train) + len(d.y_val) + len(d.y_test)
    ((13,), 3, 'flat', 178)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from effobj._validation import check_choice, check_int, refusal
from effobj.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["DATASETS", "Dataset", "DatasetInfo", "load_dataset"]

Layout = Literal["image", "flat"]


@dataclass(frozen=True)
class DatasetInfo:
    """Shape facts of a dataset, known without loading it."""

    input_shape: tuple[int, ...]
    num_classes: int
    layout: Layout


#: the bundled datasets, in their default layout
DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo((1, 8, 8), 10, "image"),
    "breast_cancer": DatasetInfo((30,), 2, "flat"),
    "wine": DatasetInfo((13,), 3, "flat"),
}


def _layout_of(shape: tuple[int, ...], name: str, func: str) -> Layout:
    if len(shape) == 1:
        return "flat"
    if len(shape) == 3:
        return "image"
    raise refusal(name, func, "hold samples of shape (F,) (layout 'flat') or (C, H, W) (layout 'image')",
                  f"samples of shape {shape}")


@dataclass
class Dataset:
    """A classification dataset with train / validation / (optional) test splits.

    Each split is either a pair ``(x, y)`` of tensors or an iterable of ``(x, y)``
    batches (e.g. a ``torch.utils.data.DataLoader``). Build it with
    :func:`load_dataset`, :meth:`from_tensors` or :meth:`from_loaders`, which check it.

    Attributes:
        name: a label used in messages and reports.
        train, val, test: the splits (``test`` may be ``None``).
        num_classes: number of classes; labels are ``0 .. num_classes - 1``.
        input_shape: shape of one sample, ``(F,)`` or ``(C, H, W)``.
        layout: ``"flat"`` or ``"image"``, from ``input_shape``.
    """

    name: str
    train: Any
    val: Any
    test: Any
    num_classes: int
    input_shape: tuple[int, ...]
    layout: Layout

    # -- constructors ---------------------------------------------------------------
    @classmethod
    def from_tensors(
        cls,
        x_train: torch.Tensor,
        y_train: torch.Tensor,
        x_val: torch.Tensor,
        y_val: torch.Tensor,
        x_test: torch.Tensor | None = None,
        y_test: torch.Tensor | None = None,
        *,
        name: str = "user",
        num_classes: int | None = None,
    ) -> Dataset:
        """A dataset from tensors: ``x`` of shape ``(N, *input_shape)``, ``y`` labels ``(N,)``.

        Raises:
            InputError: shapes disagree across splits, ``x`` and ``y`` lengths differ,
                labels are not integers in ``[0, num_classes)``, or a split is empty.
        """
        import torch

        func = "Dataset.from_tensors"
        num_classes = check_int(num_classes, "num_classes", func, allow_none=True)
        splits: dict[str, tuple[Any, Any] | None] = {
            "train": (x_train, y_train),
            "val": (x_val, y_val),
            "test": None if x_test is None and y_test is None else (x_test, y_test),
        }
        shape: tuple[int, ...] | None = None
        checked: dict[str, tuple[torch.Tensor, torch.Tensor] | None] = {}
        for split, pair in splits.items():
            if pair is None:
                checked[split] = None
                continue
            x, y = (torch.as_tensor(v) if v is not None else None for v in pair)
            if x is None or y is None:
                raise InputError(
                    f"The 'x_{split}' and 'y_{split}' parameters of Dataset.from_tensors must "
                    f"be given together. Got only one of them."
                )
            if x.ndim < 2 or y.ndim != 1 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
                raise InputError(
                    f"The 'x_{split}' / 'y_{split}' parameters of Dataset.from_tensors must "
                    f"have shapes (N, ...) and (N,) with N > 0. Got {tuple(x.shape)} and "
                    f"{tuple(y.shape)} instead."
                )
            if y.dtype.is_floating_point or y.dtype == torch.bool:
                raise refusal(f"y_{split}", func, "hold integer class labels", f"dtype {y.dtype}")
            if shape is None:
                shape = tuple(x.shape[1:])
            elif tuple(x.shape[1:]) != shape:
                raise refusal(f"x_{split}", func, f"have samples of the training shape {shape}",
                              str(tuple(x.shape[1:])))
            checked[split] = (x.float(), y.long())
        assert shape is not None
        layout = _layout_of(shape, "x_train", func)
        labels = torch.cat([p[1] for p in checked.values() if p is not None])
        if num_classes is None:
            num_classes = int(labels.max()) + 1
        if int(labels.min()) < 0 or int(labels.max()) >= num_classes:
            raise InputError(
                f"The labels of Dataset.from_tensors must be ints in the range "
                f"[0, {num_classes - 1}]. Got labels in [{int(labels.min())}, "
                f"{int(labels.max())}] instead."
            )
        num_classes = check_int(num_classes, "num_classes", func, low=2)
        return cls(name, checked["train"], checked["val"], checked["test"], num_classes, shape, layout)

    @classmethod
    def from_loaders(
        cls,
        train: Iterable[Any],
        val: Iterable[Any],
        test: Iterable[Any] | None = None,
        *,
        num_classes: int,
        name: str = "user",
    ) -> Dataset:
        """A dataset from iterables of ``(x, y)`` batches (e.g. DataLoaders).

        The input shape is read from the first training batch. The training loop
        iterates ``train`` once per epoch as it is, so its batch size and shuffling
        replace the config's ``batch_size`` and the loop's seeded order.
        """
        func = "Dataset.from_loaders"
        num_classes = check_int(num_classes, "num_classes", func, low=2)
        try:
            x, y = next(iter(train))
        except (StopIteration, TypeError, ValueError):
            raise refusal("train", func, "be a non-empty iterable of (x, y) batches",
                          type(train).__name__) from None
        shape = tuple(x.shape[1:])
        layout = _layout_of(shape, "train", func)
        return cls(name, train, val, test, num_classes, shape, layout)

    # -- access ---------------------------------------------------------------------
    @property
    def info(self) -> DatasetInfo:
        """Shape facts of this dataset."""
        return DatasetInfo(self.input_shape, self.num_classes, self.layout)

    def _pair(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        part = getattr(self, split)
        if not isinstance(part, tuple):
            raise InputError(f"The {split!r} split of dataset {self.name!r} is a loader, not tensors.")
        return part

    @property
    def x_train(self) -> torch.Tensor:
        """Training inputs (tensor datasets only)."""
        return self._pair("train")[0]

    @property
    def y_train(self) -> torch.Tensor:
        """Training labels (tensor datasets only)."""
        return self._pair("train")[1]

    @property
    def x_val(self) -> torch.Tensor:
        """Validation inputs (tensor datasets only)."""
        return self._pair("val")[0]

    @property
    def y_val(self) -> torch.Tensor:
        """Validation labels (tensor datasets only)."""
        return self._pair("val")[1]

    @property
    def x_test(self) -> torch.Tensor:
        """Test inputs (tensor datasets only)."""
        return self._pair("test")[0]

    @property
    def y_test(self) -> torch.Tensor:
        """Test labels (tensor datasets only)."""
        return self._pair("test")[1]

    def batches(
        self, split: str, batch_size: int, *, generator: torch.Generator | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(x, y)`` batches of ``split``; shuffled by ``generator`` when given.

        Loader splits are iterated as they are (``batch_size`` and ``generator`` unused).
        """
        import torch

        part = getattr(self, split)
        if part is None:
            return
        if not isinstance(part, tuple):
            yield from part
            return
        x, y = part
        n = x.shape[0]
        order = torch.randperm(n, generator=generator) if generator is not None else None
        for start in range(0, n, batch_size):
            if order is None:
                yield x[start : start + batch_size], y[start : start + batch_size]
            else:
                idx = order[start : start + batch_size]
                yield x[idx], y[idx]

    def steps_per_epoch(self, batch_size: int) -> int | None:
        """Training steps of one epoch (``None`` for a loader of unknown length)."""
        if isinstance(self.train, tuple):
            return math.ceil(self.train[0].shape[0] / batch_size)
        try:
            return len(self.train)
        except TypeError:
            return None


@functools.lru_cache(maxsize=16)
def _arrays(
    name: str, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Raw features, labels and the train/val/test index split of a bundled dataset."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    loader = {
        "digits": datasets.load_digits,
        "breast_cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
    }[name]
    bunch = loader()
    x = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.int64)
    idx = np.arange(len(y))
    train, rest = train_test_split(idx, test_size=0.4, random_state=seed, stratify=y)
    val, test = train_test_split(rest, test_size=0.5, random_state=seed, stratify=y[rest])
    return x, y, np.sort(train), np.sort(val), np.sort(test)


def load_dataset(
    name: str, *, seed: int = 0, layout: Layout | None = None
) -> Dataset:
    """Load a dataset scikit-learn ships, split 60/20/20 and standardized on train.

    Args:
        name: ``"digits"``, ``"breast_cancer"`` or ``"wine"``.
        seed: seed of the stratified split (the default 0 is the fixed split every
            benchmark and test uses).
        layout: ``"image"`` (digits only: ``(1, 8, 8)``) or ``"flat"`` (``(F,)``);
            ``None`` takes the dataset's default (image for digits, flat otherwise).

    Returns:
        A :class:`Dataset` of float32 inputs and int64 labels.

    Raises:
        InputError: unknown name, bad seed, or a layout the dataset cannot take.
    """
    import torch

    check_choice(name, "name", "load_dataset", sorted(DATASETS))
    seed = check_int(seed, "seed", "load_dataset", low=0)
    info = DATASETS[name]
    allowed: tuple[Layout, ...] = ("image", "flat") if info.layout == "image" else ("flat",)
    layout_ = check_choice(info.layout if layout is None else layout, "layout",
                           f"load_dataset for {name!r}", allowed)
    x, y, train, val, test = _arrays(name, seed)
    if layout_ == "image":
        mu, sigma = x[train].mean(), x[train].std()
        xs = (x - mu) / sigma
        shape: tuple[int, ...] = info.input_shape
    else:
        mu, sigma = x[train].mean(axis=0), x[train].std(axis=0)
        sigma = np.where(sigma > 0, sigma, 1.0)
        xs = (x - mu) / sigma
        shape = (x.shape[1],)

    def part(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return (
            torch.tensor(xs[idx], dtype=torch.float32).reshape(len(idx), *shape),
            torch.tensor(y[idx], dtype=torch.int64),
        )

    return Dataset(name, part(train), part(val), part(test), info.num_classes, shape, layout_)
