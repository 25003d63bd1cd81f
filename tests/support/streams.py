"""Served-review streams for the drift tests: one that no champion was trained on."""

from __future__ import annotations

import random


def shifted_reviews(count: int) -> list[str]:
    """Reviews of made-up words (a fixed pool, so that a classifier can learn them): out of
    every vocabulary, a domain classifier tells them from real reviews at once."""
    rng = random.Random(7)
    pool = ["".join(rng.choices("qxzjkvwy", k=rng.randint(5, 9))) for _ in range(150)]
    return [" ".join(rng.choices(pool, k=rng.randint(8, 30))) + " ##" for _ in range(count)]
