"""Small models for the remote tests (also a FILE.py:factory for ``effobj profile``)."""

from __future__ import annotations

import torch
from torch import nn


def small() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))


def mlp(width: int = 32) -> nn.Module:
    return nn.Sequential(nn.Linear(16, width), nn.GELU(), nn.Linear(width, 2))


class Hang(nn.Module):
    """Squares a 2000 x 2000 matrix 40 times: minutes on one thread, a few bytes to send."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.expand(2000, 2000)
        for _ in range(40):
            y = y @ y
        return y


class Crash(nn.Module):
    """Asks for 4 TiB at run time: exports and counts fine, fails on the device."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.zeros(2**40, dtype=torch.float32).sum()


class DataDependent(nn.Module):
    """Branches on a tensor's value: torch.export cannot capture it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return x * 2
        return x
