"""How torch's CPU ``lerp`` rounds on this machine, measured broadly and independently of lrwidget.

fastai smooths the loss with ``torch.lerp`` on float32.  Where ATen runs its vectorised CPU
kernels (AVX2, AVX-512, NEON) lerp rounds once; where it runs its DEFAULT kernels (an x86 CPU
without AVX2, or ``ATEN_CPU_CAPABILITY=default``) it rounds twice.  lrwidget finds out which with
a two-input probe (:func:`lrwidget.smoothing.torch_lerp_rounding`); the tests check that probe
against :data:`TORCH_LERP_ROUNDS_ONCE`, measured here on thousands of inputs through both of
torch's code paths (whole vectors and 0-d tensors).
"""

from __future__ import annotations

import numpy as np
import torch


def _rounds_twice(start: np.ndarray, end: np.ndarray, weight: float) -> np.ndarray:
    """torch's lerp formula with every operation rounded to float32 (numpy never fuses)."""
    weight32 = np.float32(weight)
    if weight < 0.5:
        return start + weight32 * (end - start)
    return end - (end - start) * (np.float32(1.0) - weight32)


def _torch_lerp_rounds_once() -> bool:
    """False when torch's lerp equals the twice-rounded formula on inputs where a single
    rounding differs from it on about one element in ten (both kernels fastai may use)."""
    rng = np.random.default_rng(0)
    start, end = (rng.standard_normal((2, 2_000)) * 2.0 ** rng.integers(-8, 8, (2, 2_000))).astype(
        np.float32
    )
    for weight in (0.98, 0.3):
        vector = torch.lerp(torch.from_numpy(start), torch.from_numpy(end), weight).numpy()
        scalar = np.array(
            [
                torch.lerp(torch.tensor(a), torch.tensor(b), weight).item()
                for a, b in zip(start[:500], end[:500], strict=True)
            ],
            dtype=np.float32,
        )
        twice = _rounds_twice(start, end, weight)
        if np.array_equal(vector, twice) or np.array_equal(scalar, twice[:500]):
            return False
    return True


TORCH_LERP_ROUNDS_ONCE = _torch_lerp_rounds_once()
