"""One torch thread for these tests: the models are tiny and the CPU is shared.

With two intra-op threads on a loaded 2-core machine, a forward pass of a small CNN
was measured 20x slower than with one (thread contention), which made the tests'
duration depend on whatever else ran.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
