"""Fixtures shared by the equivalence tests of the submission fast path: one world
(principals, cases, tokens) and one pair of apps over one service per module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.api_server import World, make_world
from tests.support.submit_pair import Pair


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("fastpath") / "data")


@pytest.fixture(scope="module")
def pair(world: Any) -> Iterator[Pair]:
    with Pair(world.data) as p:
        yield p
