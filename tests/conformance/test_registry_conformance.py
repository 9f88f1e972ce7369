"""Every registered env passes every conformance check: new variants are covered automatically."""

from __future__ import annotations

import functools
import warnings

import pytest

import auction_envs
from auction_envs.testing.conformance import ALL_CHECKS


@pytest.mark.parametrize("check_name", sorted(ALL_CHECKS))
@pytest.mark.parametrize("env_id", auction_envs.list_envs())
def test_conformance(env_id: str, check_name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PettingZoo's advisory warnings (inf bounds etc.)
        ALL_CHECKS[check_name](functools.partial(auction_envs.make, env_id))
