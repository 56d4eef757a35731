"""The small deterministic training loop every model space uses.

One run is reproducible under a seed: the whole run happens inside
``torch.random.fork_rng`` after ``torch.manual_seed(seed)`` (dropout masks, and the
order of the training batches drawn from a ``torch.Generator`` seeded with ``seed``),
so the caller's random state is left untouched and two runs with the same model
weights, config, data and seed give the same result.

Training FLOPs are counted, not estimated: the first training step of each distinct
batch size runs under ``torch.utils.flop_counter.FlopCounterMode`` (forward + loss +
backward; one multiply-add counts as 2 FLOPs), and every step adds the count of its
batch size:

.. math::

    \\text{train\\_flops} = \\sum_{\\text{steps } s} F_{\\text{step}}(|B_s|)

which equals "FLOPs of one training step times the number of steps" when every batch
is full. Evaluation passes and the optimizer update are not counted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from effobj._validation import check_choice, check_int
from effobj.errors import InputError
from effobj.spaces._protocol import TrainResult

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from effobj.spaces.data import Dataset

__all__ = ["evaluate_accuracy", "make_optimizer", "train_classifier"]


def make_optimizer(params: Any, config: Mapping[str, Any]) -> torch.optim.Optimizer:
    """The optimizer the config names, with its ``lr`` and ``weight_decay``.

    ``"sgd"`` is SGD with Nesterov momentum 0.9; ``"adam"`` uses L2 weight decay and
    ``"adamw"`` decoupled weight decay.
    """
    import torch

    name, lr, wd = config["optimizer"], float(config["lr"]), float(config["weight_decay"])
    name = check_choice(name, "optimizer", "the training config", ("adam", "adamw", "sgd"))
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    return torch.optim.AdamW(params, lr=lr, weight_decay=wd)


def evaluate_accuracy(model: torch.nn.Module, data: Dataset, split: str) -> float:
    """Top-1 accuracy of ``model`` on ``split`` (``nan`` if the split is absent)."""
    import torch

    if getattr(data, split) is None:
        return math.nan
    was_training = model.training
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in data.batches(split, 512):
            correct += int((model(x).argmax(dim=-1) == y).sum())
            total += int(y.shape[0])
    model.train(was_training)
    if total == 0:
        raise InputError(f"The {split!r} split of dataset {data.name!r} must not be empty.")
    return correct / total


class _Diverged(Exception):
    """The training loss became inf or NaN."""


def _cycle(data: Dataset, split: str, batch_size: int, gen: torch.Generator) -> Iterator[Any]:
    while True:
        yield from data.batches(split, batch_size, generator=gen)


def train_classifier(
    model: torch.nn.Module,
    config: Mapping[str, Any],
    data: Dataset,
    *,
    seed: int = 0,
    on_epoch: Callable[[int, float], None] | None = None,
    arch_lr: float = 3e-3,
    num_threads: int | None = 1,
) -> TrainResult:
    """Train ``model`` with cross-entropy under the config's training hyper-parameters.

    Args:
        model: a classifier mapping ``(B, *input_shape)`` to ``(B, num_classes)`` logits.
        config: holds ``lr``, ``weight_decay``, ``batch_size``, ``epochs``, ``optimizer``.
        data: the dataset (validation accuracy is measured after every epoch).
        seed: seed of initialization-independent randomness (batch order, dropout).
        on_epoch: called as ``on_epoch(epoch, val_perf)`` after each epoch (0-based);
            whatever it raises (e.g. ``optuna.TrialPruned``) stops training and propagates.
        arch_lr: learning rate of the architecture weights when ``model`` has
            ``arch_parameters()`` (a supernet): those are then trained first-order DARTS
            style, one Adam step on a validation batch before each weight step on a
            training batch.
        num_threads: intra-op threads torch uses during the run (restored afterwards);
            ``None`` keeps the current setting. The default 1 is deliberate: these models
            are so small that on a shared CPU two threads can make a step 30x slower.

    Returns:
        A :class:`~effobj.spaces.TrainResult`. If the training loss becomes inf or NaN
        (e.g. too high a learning rate), training stops before that update, the epoch
        and the test split score 0.0 and ``diverged`` is true.
    """
    import torch

    from effobj.profiler import flop_counter_mode

    seed = check_int(seed, "seed", "train", low=0)
    loss_fn = torch.nn.CrossEntropyLoss()
    epochs, batch_size = int(config["epochs"]), int(config["batch_size"])
    supernet = callable(getattr(model, "arch_parameters", None))
    if supernet:
        weights = list(model.weight_parameters())  # type: ignore[operator]
        arch_opt = torch.optim.Adam(
            model.arch_parameters(),  # type: ignore[operator]
            lr=arch_lr,
            betas=(0.5, 0.999),
            weight_decay=1e-3,
        )
    else:
        weights = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(weights, config)

    flops_by_batch: dict[int, float] = {}
    train_flops = 0.0
    history: list[float] = []
    elapsed = 0.0
    threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            gen = torch.Generator().manual_seed(seed)
            val_stream = _cycle(data, "val", batch_size, torch.Generator().manual_seed(seed + 1))

            def step(x: torch.Tensor, y: torch.Tensor) -> None:
                if supernet:
                    xv, yv = next(val_stream)
                    arch_opt.zero_grad(set_to_none=True)
                    loss_fn(model(xv), yv).backward()
                    arch_opt.step()
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(x), y)
                if not torch.isfinite(loss):
                    raise _Diverged
                loss.backward()
                opt.step()

            diverged = False
            for epoch in range(epochs):
                t0 = time.perf_counter()
                model.train()
                try:
                    for x, y in data.batches("train", batch_size, generator=gen):
                        n = int(y.shape[0])
                        if n not in flops_by_batch:
                            with flop_counter_mode() as counter:
                                step(x, y)
                            flops_by_batch[n] = float(counter.get_total_flops())
                        else:
                            step(x, y)
                        train_flops += flops_by_batch[n]
                except _Diverged:
                    diverged = True
                val = 0.0 if diverged else evaluate_accuracy(model, data, "val")
                elapsed += time.perf_counter() - t0
                history.append(val)
                if on_epoch is not None:
                    on_epoch(epoch, val)
                if diverged:
                    break
            test = 0.0 if diverged else evaluate_accuracy(model, data, "test")
    finally:
        torch.set_num_threads(threads)
    return TrainResult(
        perf=history[-1] if history else math.nan,
        test_perf=test,
        epochs_run=len(history),
        train_time_s=elapsed,
        train_flops=train_flops,
        history=history,
        diverged=diverged,
    )
