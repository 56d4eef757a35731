"""Base class of the spaces whose configs are torch models trained on a dataset."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from effobj._validation import check_instance, check_int, refusal
from effobj.spaces._params import ParamSpace
from effobj.spaces._protocol import TrainResult
from effobj.spaces.data import DATASETS, Dataset, DatasetInfo

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["ModelSpace"]


class ModelSpace(ParamSpace):
    """A :class:`~effobj.spaces._params.ParamSpace` that builds and trains classifiers.

    Subclasses define :attr:`params`, :attr:`layouts` (data layouts they accept),
    :meth:`_build` and optionally :meth:`_check_data` (rules joining config and data).
    Built models carry ``input_shape`` and ``num_classes`` attributes so that
    :meth:`train` can refuse data of another shape before training.
    """

    kind: Literal["model"] = "model"
    default_dataset: str = "digits"
    layouts: tuple[str, ...] = ("image", "flat")

    # -- data -----------------------------------------------------------------------
    def _info(self, data: Dataset | DatasetInfo | None) -> DatasetInfo:
        if data is None:
            info = DATASETS[self.default_dataset]
        elif isinstance(data, Dataset):
            info = data.info
        elif isinstance(data, DatasetInfo):
            info = data
        else:
            check_instance(data, "data", f"the {self.name!r} search space", Dataset,
                           "a effobj.spaces.data.Dataset or None")
        if info.layout not in self.layouts:
            raise refusal(
                "data", f"the {self.name!r} search space",
                f"have one of the layouts {list(self.layouts)} (samples of shape "
                f"{'(F,)' if 'flat' in self.layouts else '(C, H, W)'})",
                f"layout {info.layout!r} with samples of shape {info.input_shape}",
            )
        return info

    def _check_data(self, config: Mapping[str, Any], info: DatasetInfo) -> None:
        """Rules joining config and data (e.g. patch size dividing the image); none by default."""

    def check(self, config: Mapping[str, Any], data: Dataset | DatasetInfo | None = None) -> DatasetInfo:
        """Validate ``config`` and its fit with ``data`` (``None``: the default dataset).

        Returns:
            The shape facts of the data the model will see.

        Raises:
            InputError: the config is outside the space or does not fit the data.
        """
        self.validate(config)
        info = self._info(data)
        self._check_data(config, info)
        return info

    # -- model ----------------------------------------------------------------------
    def _build(self, config: Mapping[str, Any], info: DatasetInfo) -> torch.nn.Module:
        raise NotImplementedError

    def build(
        self, config: Mapping[str, Any], data: Dataset | DatasetInfo | None = None, *, seed: int = 0
    ) -> torch.nn.Module:
        """Build the untrained classifier of ``config`` for ``data``'s shape and classes.

        Args:
            config: a config of this space (checked first).
            data: fixes input shape and number of classes (a ``Dataset``, or just its
                ``DatasetInfo``); ``None`` uses :attr:`default_dataset`'s (without
                loading it).
            seed: seed of the weight initialization (the caller's random state is kept),
                so the same config always starts from the same weights.
        """
        import torch

        info = self.check(config, data)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = self._build(config, info)
        model.input_shape = tuple(info.input_shape)  # type: ignore[assignment]
        model.num_classes = info.num_classes  # type: ignore[assignment]
        return model

    def example_input(
        self, config: Mapping[str, Any], data: Dataset | DatasetInfo | None = None, batch_size: int = 1
    ) -> tuple[torch.Tensor, ...]:
        """A standard-normal input batch ``(batch_size, *input_shape)`` (fixed generator)."""
        import torch

        batch_size = check_int(batch_size, "batch_size", "example_input", low=1)
        info = self.check(config, data)
        gen = torch.Generator().manual_seed(0)
        return (torch.randn(batch_size, *info.input_shape, generator=gen),)

    def describe(self, config: Mapping[str, Any]) -> str:
        """``name(key=value, ...)`` of the config's parameters."""
        body = ", ".join(f"{k}={config[k]!r}" for k in (p.key for p in self.params) if k in config)
        return f"{self.name}({body})"

    # -- training -------------------------------------------------------------------
    def train(
        self,
        model: torch.nn.Module,
        config: Mapping[str, Any],
        data: Dataset,
        *,
        seed: int = 0,
        on_epoch: Callable[[int, float], None] | None = None,
    ) -> TrainResult:
        """Train ``model`` (from :meth:`build`) on ``data`` with the config's hyper-parameters.

        The config and the data's shape are checked before the first step. See
        :func:`effobj.spaces._training.train_classifier` for determinism and FLOP counting.
        """
        from effobj.spaces._training import train_classifier

        check_instance(data, "data", f"{self.name!r}.train", Dataset, "a effobj.spaces.data.Dataset")
        info = self.check(config, data)
        built = {"input_shape": getattr(model, "input_shape", None), "num_classes": getattr(model, "num_classes", None)}
        given = {"input_shape": tuple(info.input_shape), "num_classes": info.num_classes}
        for attr, value in built.items():
            if value is not None and (tuple(value) if attr == "input_shape" else value) != given[attr]:
                raise refusal("data", f"{self.name!r}.train", f"match the model's {attr} {value}",
                              f"dataset {data.name!r} with {attr} {given[attr]}")
        return train_classifier(model, config, data, seed=seed, on_epoch=on_epoch)
