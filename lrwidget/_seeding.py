"""A sweep's random draws fixed by a seed, and everything put back afterwards.

:func:`seeded` is used by both adapters for repeated sweeps: with a seed, the data order and
every other random draw of the sweep (dropout, augmentation, DataLoader workers' seeds) follow
from it, so ``run_sweep(learn, seed=3)`` twice gives the same sweep, and seeds 0, 1, 2 give
three data orders.  Without a seed nothing is touched.

Imports torch, never fastai: a fastai DataLoader is recognised by its ``rng`` attribute.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from lrwidget._torch_state import _RandomState

__all__ = ["seeded"]


@contextlib.contextmanager
def seeded(seed: int | None, loaders: Sequence[Any] = ()) -> Iterator[None]:
    """Within the block, every random draw starts from ``seed``; after it, as before.

    Seeds Python's ``random``, numpy's legacy generator and torch's CPU generator (and CUDA's
    when CUDA is already initialised: seeding it lazily would change the user's later CUDA
    draws).  Each of ``loaders`` that shuffles from its own generator gets a fresh one from the
    seed: a fastai ``DataLoader`` (its ``rng``, a ``random.Random`` from which each epoch's
    ``randomize()`` draws the order) gets ``random.Random(seed)``; a torch ``DataLoader`` with
    its own ``generator`` (and its sampler's) has that generator seeded.  However the block
    ends, the loaders get their own generator objects back, in their former state, and the
    global generators their former states.  ``seed`` None: nothing is touched.
    """
    if seed is None:
        yield
        return
    global_state = _RandomState()
    loader_generators = [_LoaderGenerators(loader) for loader in loaders]
    try:
        random.seed(seed)
        np.random.seed(seed)
        torch.default_generator.manual_seed(seed)
        if global_state.cuda is not None:
            torch.cuda.manual_seed_all(seed)
        for generators in loader_generators:
            generators.seed(seed)
        yield
    finally:
        try:
            for generators in loader_generators:
                generators.restore()
        finally:
            global_state.restore()


class _LoaderGenerators:
    """A loader's own generators: fastai's ``rng`` (replaced), torch's ``generator`` and its
    sampler's (seeded in place, as the sampler holds the same object)."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        rng = getattr(loader, "rng", None)
        self.rng = rng if isinstance(rng, random.Random) else None
        self.rng_state = None if self.rng is None else self.rng.getstate()
        found = [getattr(loader, "generator", None)]
        found.append(getattr(getattr(loader, "sampler", None), "generator", None))
        self.torch_generators: list[tuple[torch.Generator, torch.Tensor]] = []
        for generator in found:
            if isinstance(generator, torch.Generator) and all(
                generator is not kept for kept, _ in self.torch_generators
            ):
                self.torch_generators.append((generator, generator.get_state()))

    def seed(self, seed: int) -> None:
        if self.rng is not None:
            self.loader.rng = random.Random(seed)
        for generator, _ in self.torch_generators:
            generator.manual_seed(seed)

    def restore(self) -> None:
        if self.rng is not None and self.rng_state is not None:
            self.rng.setstate(self.rng_state)
            self.loader.rng = self.rng
        for generator, state in self.torch_generators:
            generator.set_state(state)
