"""The scripted V2X baselines read observation fields by name and act as documented."""

from __future__ import annotations

import numpy as np
import pytest

from agents.baselines import (
    FixedActionV2XPolicy,
    LateSubmitV2XPolicy,
    NeverOffloadV2XPolicy,
    PassiveV2XPolicy,
    ScriptedBackoffV2XPolicy,
)
from auction_envs.envs.v2x import V2XIntersectionEnv, V2XOffloadingEnv


def observation(layout, **values):
    """One observation with the given fields (natural units), every other field 0."""
    fields = {name: np.zeros(layout.field(name).size) if layout.field(name).size > 1 else 0.0
              for name in layout.names}
    fields.update(values)
    return layout.pack(fields)


@pytest.mark.parametrize("env_class", [V2XOffloadingEnv, V2XIntersectionEnv])
def test_passive_reads_the_budget_by_name(env_class) -> None:
    env = env_class(max_cycles=5)
    layout = env.layout
    obs = {"a": observation(layout, budget=1500.0), "b": observation(layout, budget=2000.0)}
    for policy in (PassiveV2XPolicy(), PassiveV2XPolicy(layout=layout)):
        actions = policy.act(obs)
        assert actions["a"].tolist() == pytest.approx([1.0, 0.5])
        assert actions["b"].tolist() == pytest.approx([1.0, 0.375])


def test_passive_with_stacked_frames_needs_the_env_layout() -> None:
    env = V2XOffloadingEnv(max_cycles=5, history=2)
    obs = observation(env.layout, budget=1500.0, lag1_budget=2000.0)
    assert PassiveV2XPolicy(layout=env.layout).act({"a": obs})["a"].tolist() == \
        pytest.approx([1.0, 0.5])
    with pytest.raises(ValueError, match="layout"):
        PassiveV2XPolicy().act({"a": obs})


def test_scripted_backoff_holds_what_can_wait_while_congested() -> None:
    layout = V2XOffloadingEnv(max_cycles=5).layout
    policy = ScriptedBackoffV2XPolicy(layout=layout)
    one_hot = np.array([0.0, 0.0, 1.0, 0.0])  # an F1-F2 chain: 33 units, ~41 steps at the edge
    patient = dict(request0_time_left=200.0, request0_work=33.0, request0_type=one_hot)
    urgent = dict(request0_time_left=50.0, request0_work=33.0, request0_type=one_hot)
    rejected_last_step = dict(last_bid_count=np.array([0, 0, 5, 0.0]),
                              last_admitted_count=np.array([0, 0, 3, 0.0]))
    cases = {
        "patient, beta high": (observation(layout, system_utilization=0.95, **patient), [0.0, 0.1]),
        "patient, bids rejected": (observation(layout, system_utilization=0.5, **patient,
                                               **rejected_last_step), [0.0, 0.1]),
        "patient, free": (observation(layout, system_utilization=0.5, **patient), [1.0, 0.1]),
        "urgent, beta high": (observation(layout, system_utilization=0.95, **urgent), [1.0, 0.5]),
    }
    actions = policy.act({name: obs for name, (obs, _) in cases.items()})
    for name, (_, expected) in cases.items():
        assert actions[name].tolist() == pytest.approx(expected), name


def test_probe_policies() -> None:
    layout = V2XOffloadingEnv(max_cycles=5).layout
    obs = {"early": observation(layout, request0_time_left=200.0),
           "late": observation(layout, request0_time_left=10.0)}
    assert all(a.tolist() == [0.0, 0.0] for a in NeverOffloadV2XPolicy(layout=layout).act(obs).values())
    late = LateSubmitV2XPolicy(window=30.0, layout=layout).act(obs)
    assert late["early"].tolist() == [0.0, 0.0] and late["late"].tolist() == [1.0, 1.0]


def test_fixed_action_policy_and_sweep_policy_specs() -> None:
    from benchmarks.v2x_capacity_sweep import make_policy, parse_policy

    layout = V2XOffloadingEnv(max_cycles=5).layout
    obs = {"a": observation(layout), "b": observation(layout, request0_time_left=10.0)}
    fixed = FixedActionV2XPolicy(alpha=0.7, fraction=0.2, layout=layout).act(obs)
    assert all(a.tolist() == pytest.approx([0.7, 0.2]) for a in fixed.values())
    with pytest.raises(ValueError, match="alpha"):
        FixedActionV2XPolicy(alpha=1.5)
    assert parse_policy("fixed:alpha=1,fraction=0.2") == ("fixed", {"alpha": 1.0, "fraction": 0.2})
    assert parse_policy("passive:fraction=0.1") == ("passive", {"fraction": 0.1, "price": None})
    policy = make_policy("scripted_backoff:min_slack=1e9", layout)
    assert isinstance(policy, ScriptedBackoffV2XPolicy) and policy.min_slack == 1e9
    for bad in ("nobody", "fixed:alpha"):
        with pytest.raises(ValueError, match="policy"):
            parse_policy(bad)
