"""The compact scorer's key lookup finds each key's column and nothing else, whichever way the
keys share the slot table: alone in a slot, several in one, or differing in the top bits only."""

from __future__ import annotations

import numpy as np
import pytest

from sentiment_mlops.core.compact_scorer import _key_lookup


def _keys(rng: np.random.Generator, count: int) -> np.ndarray:
    keys = rng.integers(0, 2**64, size=count, dtype=np.uint64)
    # Keys that differ from others in their top bits (their slot) or low bits only, and keys
    # that share a slot: the cases a slot's packed key and column could confuse.
    keys[1::7] = keys[0::7][: len(keys[1::7])] ^ np.uint64(1 << 63)
    keys[2::7] = keys[0::7][: len(keys[2::7])] ^ np.uint64(1)
    keys[3::7] = keys[0::7][: len(keys[3::7])] ^ np.uint64(1 << 20)
    return np.unique(keys)[rng.permutation(len(np.unique(keys)))]


@pytest.mark.parametrize("count", [1, 2, 5, 1000, 100_000])
def test_every_key_finds_its_column_and_no_other_query_finds_one(count: int) -> None:
    rng = np.random.default_rng(count)
    keys = _keys(rng, count)
    lookup = _key_lookup(keys)
    assert lookup(keys).tolist() == list(range(len(keys)))
    column = {key: position for position, key in enumerate(keys.tolist())}  # keys are unique
    flips = [np.uint64(1 << bit) for bit in (0, 1, 30, 44, 45, 46, 47, 60, 62, 63)]
    others = np.concatenate(
        [keys ^ flip for flip in flips] + [rng.integers(0, 2**64, 5000, dtype=np.uint64)]
    )
    expected = [column.get(key, -1) for key in others.tolist()]
    assert lookup(others).tolist() == expected
    assert lookup(np.zeros(0, dtype=np.uint64)).tolist() == []
