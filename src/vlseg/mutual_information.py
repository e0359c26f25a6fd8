r"""Checking the InfoNCE bound where the truth is known: correlated Gaussians.

Let :math:`x, y \in \mathbb{R}^d` be standard normal with :math:`\mathrm{corr}(x_k, y_k) = \rho` in every coordinate
and independent coordinates. Their mutual information has a closed form,

.. math:: I(x; y) = -\tfrac{d}{2}\,\log(1 - \rho^2) \quad\text{nats},

and so does the *optimal critic* of InfoNCE, the log density ratio (up to a constant that cancels in the softmax)

.. math::

    f^*(x, y) = \log\frac{p(y \mid x)}{p(y)}
    = -\frac{\lVert y - \rho x\rVert^2}{2(1-\rho^2)} + \frac{\lVert y\rVert^2}{2} - \frac d2 \log(1-\rho^2).

With :math:`k` pairs and this critic, :math:`\log k - \mathcal{L}_{\text{InfoNCE}}` estimates a lower bound on
:math:`I`: close to :math:`I` while :math:`I \ll \log k`, and saturating below :math:`\log k` when :math:`I` is
larger — the reason a contrastive bound can never certify more than :math:`\log k` nats.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from vlseg.losses import infonce_mi_lower_bound, symmetric_infonce


def _check_rho(rho: float) -> None:
    if not -1.0 < rho < 1.0:
        raise ValueError(f"rho must lie in (-1, 1), got {rho}")


def gaussian_mutual_information(rho: float, dim: int) -> float:
    """True I(x; y) in nats for ``dim`` independent coordinate pairs with correlation ``rho``."""
    _check_rho(rho)
    return -0.5 * dim * math.log(1.0 - rho**2)


def correlated_gaussians(n: int, dim: int, rho: float, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``n`` samples of (x, y), each (n, dim), standard normal with per-coordinate correlation ``rho``."""
    _check_rho(rho)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=generator, dtype=torch.float64)
    noise = torch.randn(n, dim, generator=generator, dtype=torch.float64)
    return x, rho * x + math.sqrt(1.0 - rho**2) * noise


def optimal_critic(x: Tensor, y: Tensor, rho: float) -> Tensor:
    """f*(x_i, y_j) for every pair: (k, d), (k, d) → (k, k), the log density ratio."""
    _check_rho(rho)
    squared_gap = torch.cdist(rho * x, y) ** 2  # (k, k): ||y_j − ρ x_i||²
    return -squared_gap / (2 * (1 - rho**2)) + 0.5 * (y**2).sum(-1)[None, :] - 0.5 * x.shape[1] * math.log(1 - rho**2)


def infonce_bound_with_optimal_critic(rho: float, dim: int, k: int, repeats: int = 20, seed: int = 0) -> float:
    """Mean over ``repeats`` batches of log k − InfoNCE(f*) for batches of ``k`` pairs (nats)."""
    bounds = []
    for r in range(repeats):
        x, y = correlated_gaussians(k, dim, rho, seed=seed + r)
        bounds.append(float(infonce_mi_lower_bound(symmetric_infonce(optimal_critic(x, y, rho)), k)))
    return sum(bounds) / len(bounds)
