"""The IoV market's observation layouts: one for the VSPs (bidders), one for the slicing agents."""

from __future__ import annotations

from auction_envs.core import Field, ObservationLayout
from auction_envs.envs.iov.core import SLICE_LEVELS, K

#: the VSPs' observation, in order: every field a scalar, unscaled and unbounded
VSP_FIELDS = (
    ("bid", "own bid x_i of the last round (VC)"),
    ("loan", "loan K_i of the last round (13)"),
    ("tax", "tax Z_i (DVCG) or alpha_i p_i ((Q)VCG) of the last round"),
    ("externality", "externality I_i of the last round (17)"),
    ("interest", "VC interest |K_i - U*_i| of the last round"),
    ("profit", "profit P_i of the last round"),
    ("utility", "true utility u_i of the last round"),
    ("voi", "the bank's VoI estimate f_i for the next round"),
    ("pool", "the pool F_P = sum_i f_i for the next round"),
    ("alpha_hat", "the bank's estimate of alpha_i"),
    ("delta", "perturbation scale Delta of the last round (16)"),
    ("progress", "rounds played / max_cycles"),
    ("needs_action", "1 if the next bid is read (0 under QVCG after round 1)"),
)
VSP_LAYOUT = ObservationLayout([Field(name, description=text) for name, text in VSP_FIELDS])


def slicer_layout(n_vsps: int = 10, beta_high: float = 200.0) -> ObservationLayout:
    """The slicing agents' observation layout (scales depend on the market's size)."""
    levels = len(SLICE_LEVELS)
    return ObservationLayout([
        Field("slice", size=K, low=0.0, high=1.0,
              description="own VSP's slice (bandwidth, compute, cache)"),
        Field("others_slice", size=K, low=0.0, high=1.0,
              description="mean slice of the other VSPs"),
        Field("others_mean_action", size=K * levels, low=0.0, high=1.0,
              description="the others' last actions: mean one-hot of the 7 levels, per resource "
                          "(resource-major)"),
        Field("vsp_bid", scale=beta_high, low=0.0, high=2.0,
              description="own VSP's last bid x_i (VC)"),
        Field("vsp_utility", scale=beta_high, low=0.0, high=1.0,
              description="own VSP's last utility u_i (from its bill)"),
        Field("vsp_id", low=0.0, high=1.0, description="own VSP's index i / (N - 1)"),
        Field("reward", scale=n_vsps * beta_high,
              description="last slicer reward (welfare or sum of bids)"),
        Field("progress", low=0.0, high=1.0, description="rounds played / max_cycles"),
        Field("needs_action", low=0.0, high=1.0, description="always 1"),
    ])


def packing_column(layout: ObservationLayout, field: Field) -> tuple[str, int | slice, float]:
    """``(name, where, scale)``: where ``field`` is written in a ``[rows, layout.size]`` array
    (a column index for a scalar field, so a ``[rows]`` value fills it; a slice otherwise)."""
    where = layout.slice(field.name)
    return field.name, where.start if field.size == 1 else where, field.scale
