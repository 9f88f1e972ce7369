"""The networks of DRACO (paper 000 §III-D/E): a stacked CNN with a highway layer over the last ν
states, a small MLP, and a Gaussian head with a lower-triangular scale (Σ = L Lᵀ).

Every module is *grouped*: it holds ``groups`` independent copies of its parameters and maps
``[groups, batch, ...]`` to ``[groups, batch, ...]``. With one group per vehicle that is the paper's
"one network per vehicle" at the cost of one batched call; with ``groups = 1`` the vehicles share
the parameters (their samples are pooled along the batch axis). Parameters are initialized from an
explicit ``torch.Generator``, so building a network never touches torch's global RNG.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

LOG_2PI = math.log(2.0 * math.pi)


def _uniform_(tensor: torch.Tensor, bound: float, generator: torch.Generator) -> None:
    with torch.no_grad():
        tensor.uniform_(-bound, bound, generator=generator)


class GroupedLinear(nn.Module):
    """``groups`` independent affine maps: ``[G, N, in] -> [G, N, out]`` (PyTorch's default init)."""

    def __init__(self, groups: int, in_features: int, out_features: int,
                 generator: torch.Generator) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(groups, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(groups, 1, out_features))
        bound = 1.0 / math.sqrt(in_features)
        _uniform_(self.weight, bound, generator)
        _uniform_(self.bias, bound, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class GroupedMLP(nn.Module):
    """ReLU MLP per group: ``[G, N, in] -> [G, N, out]`` (the SL network ψ of the paper)."""

    def __init__(self, groups: int, in_features: int, hidden: Sequence[int], out_features: int,
                 generator: torch.Generator) -> None:
        super().__init__()
        sizes = [in_features, *hidden, out_features]
        self.layers = nn.ModuleList(GroupedLinear(groups, a, b, generator)
                                    for a, b in itertools.pairwise(sizes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = F.relu(layer(x))
        return self.layers[-1](x)


class HighwayCNN(nn.Module):
    """Stacked CNN over a window of states with a highway layer (paper 000 §III-E; the SeqGAN
    discriminator's layout).

    Input ``[G, N, history, features]``: each state is first embedded linearly into ``embedding``
    channels (SeqGAN's discriminator embeds its tokens the same way; ``embedding=None`` convolves
    the raw features), then each filter height ``h`` convolves ``filters`` kernels of ``h``
    consecutive embedded states (valid positions only), ReLU, max over time; the
    concatenated features pass a highway layer ``y = T ⊙ relu(H x) + (1 − T) ⊙ x`` with
    ``T = σ(W_T x + b_T)`` (``b_T = −2`` at start, the highway paper's carry bias) and a linear map
    to ``out_features``.

    Implementation: all kernels share one matrix product over windows of the largest height (the
    window right-padded with zeros); a kernel of height ``h`` has its rows below ``h`` held at zero
    by a fixed mask and its positions past ``history − h`` excluded from the max, so it is exactly a
    valid convolution of height ``h`` (:meth:`kernels` gives each one as a ``Conv1d`` weight).
    """

    def __init__(self, groups: int, history: int, features: int, filter_heights: Sequence[int],
                 filters: int, out_features: int, generator: torch.Generator,
                 embedding: int | None = None) -> None:
        super().__init__()
        if not filter_heights or any(h < 1 or h > history for h in filter_heights):
            raise ValueError(f"filter heights must be in [1, history={history}]; got "
                             f"{tuple(filter_heights)}")
        self.groups, self.history, self.input_features = groups, history, features
        self.embed = None if embedding is None else GroupedLinear(groups, features, embedding,
                                                                  generator)
        features = features if embedding is None else embedding
        self.features = features
        self.filter_heights = tuple(int(h) for h in filter_heights)
        self.filters = filters
        self.max_height = max(self.filter_heights)
        width = filters * len(self.filter_heights)
        self.width = width
        heights = torch.tensor(self.filter_heights).repeat_interleave(filters)  # per column
        rows = torch.arange(self.max_height).repeat_interleave(features)  # time offset per row
        self.register_buffer("kernel_mask", (rows[:, None] < heights[None, :]).float(),
                             persistent=False)
        positions = torch.arange(history)
        self.register_buffer("position_valid", positions[:, None] <= history - heights[None, :],
                             persistent=False)
        self.kernel = nn.Parameter(torch.empty(groups, self.max_height * features, width))
        self.kernel_bias = nn.Parameter(torch.empty(groups, 1, width))
        with torch.no_grad():
            for j, height in enumerate(self.filter_heights):
                bound = 1.0 / math.sqrt(features * height)
                columns = slice(j * filters, (j + 1) * filters)
                _uniform_(self.kernel[:, :, columns], bound, generator)
                _uniform_(self.kernel_bias[:, :, columns], bound, generator)
            self.kernel.mul_(self.kernel_mask)
        self.transform = GroupedLinear(groups, width, width, generator)
        self.gate = GroupedLinear(groups, width, width, generator)
        with torch.no_grad():
            self.gate.bias.fill_(-2.0)
        self.head = GroupedLinear(groups, width, out_features, generator)

    def kernels(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per filter height, the equivalent ``Conv1d`` weight ``[G, filters, features, h]`` and
        bias ``[G, filters]`` (for checks against ``torch.nn.functional.conv1d``)."""
        weight = (self.kernel * self.kernel_mask).reshape(self.groups, self.max_height,
                                                          self.features, self.width)
        out = []
        for j, height in enumerate(self.filter_heights):
            columns = slice(j * self.filters, (j + 1) * self.filters)
            w = weight[:, :height, :, columns].permute(0, 3, 2, 1)
            out.append((w, self.kernel_bias[:, 0, columns]))
        return out

    def embedded(self, x: torch.Tensor) -> torch.Tensor:
        """The per-state embedding ``[G, N, history, channels]`` the convolutions read."""
        if self.embed is None:
            return x
        g, n, history, features = x.shape
        return self.embed(x.reshape(g, n * history, features)).reshape(g, n, history, -1)

    def conv_features(self, x: torch.Tensor) -> torch.Tensor:
        """Max-pooled ReLU convolutions ``[G, N, width]`` (heights in order, ``filters`` each)."""
        g, n, history, features = x.shape
        if (g, history, features) != (self.groups, self.history, self.input_features):
            raise ValueError(f"expected [groups={self.groups}, N, history={self.history}, "
                             f"features={self.input_features}]; got {tuple(x.shape)}")
        x = self.embedded(x)
        features = self.features
        padded = torch.nn.functional.pad(x, (0, 0, 0, self.max_height - 1))
        windows = padded.unfold(2, self.max_height, 1)  # [G, N, T, F, H]
        windows = windows.transpose(-1, -2).reshape(g, n * history, self.max_height * features)
        responses = torch.baddbmm(self.kernel_bias, windows, self.kernel * self.kernel_mask)
        responses = responses.reshape(g, n, history, self.width)
        responses = responses.masked_fill(~self.position_valid, float("-inf"))
        return F.relu(responses.amax(dim=2))

    def features_of(self, x: torch.Tensor) -> torch.Tensor:
        """The highway features ``[G, N, width]`` of states ``[G, N, history, features]``."""
        z = self.conv_features(x)
        gate = torch.sigmoid(self.gate(z))
        return gate * F.relu(self.transform(z)) + (1.0 - gate) * z

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features_of(x))


# ---------------------------------------------------------------------------- Gaussian head
def gaussian_parameter_count(dim: int) -> int:
    """Outputs a Gaussian head needs: the mean and the ``dim (dim + 1) / 2`` entries of ``L``."""
    return dim + dim * (dim + 1) // 2


def gaussian_from_output(output: torch.Tensor, dim: int, min_scale: float
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``[..., d]`` and lower-triangular scale ``L [..., d, d]`` from a raw head output.

    Layout of the last axis: ``d`` means, ``d`` diagonal entries (``softplus(raw) + min_scale``,
    so ``L`` is invertible and Σ = L Lᵀ positive definite), then the ``d (d − 1) / 2`` entries
    below the diagonal in row-major order (unconstrained).
    """
    if output.shape[-1] != gaussian_parameter_count(dim):
        raise ValueError(f"a {dim}-d Gaussian head needs {gaussian_parameter_count(dim)} outputs; "
                         f"got {output.shape[-1]}")
    mean = output[..., :dim]
    diagonal = F.softplus(output[..., dim:2 * dim]) + min_scale
    scale = torch.diag_embed(diagonal)
    if dim > 1:
        rows, cols = torch.tril_indices(dim, dim, offset=-1)
        lower = torch.zeros_like(scale)
        lower[..., rows, cols] = output[..., 2 * dim:]
        scale = scale + lower
    return mean, scale


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, scale_tril: torch.Tensor
                      ) -> torch.Tensor:
    """``log N(x; mean, L Lᵀ)`` over the last axis: ``−½‖L⁻¹(x − μ)‖² − Σ log L_ii − d/2 log 2π``."""
    diff = (x - mean).unsqueeze(-1)
    y = torch.linalg.solve_triangular(scale_tril, diff, upper=False).squeeze(-1)
    log_det = torch.log(torch.diagonal(scale_tril, dim1=-2, dim2=-1)).sum(-1)
    return -0.5 * (y * y).sum(-1) - log_det - 0.5 * x.shape[-1] * LOG_2PI


def gaussian_sample(mean: torch.Tensor, scale_tril: torch.Tensor, noise: torch.Tensor
                    ) -> torch.Tensor:
    """``μ + L y`` for standard-normal ``noise`` y (the paper's ζ = μ + L y)."""
    return mean + (scale_tril @ noise.unsqueeze(-1)).squeeze(-1)
