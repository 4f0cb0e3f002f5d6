"""Splitting a deployment's traffic over its versions by weight.

Smooth weighted round-robin (as in nginx): every pick adds each version's
weight to its credit, takes the version with the most credit and charges it
the total.  Over any ``sum(weights) / gcd`` consecutive picks every version
gets exactly its share, interleaved rather than in runs, with no randomness
to make tests or canaries flaky.  An optional RNG only chooses where in the
cycle a new splitter starts, so replicas do not all send their first
requests to the same version.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping

__all__ = ["TrafficSplitter"]


class TrafficSplitter:
    """Picks version keys in proportion to integer weights (percentages)."""

    def __init__(self, weights: Mapping[str, int], *, rng: random.Random | None = None) -> None:
        if any(weight < 0 for weight in weights.values()):
            raise ValueError(f"traffic weights must not be negative: {dict(weights)}")
        positive = {key: weight for key, weight in weights.items() if weight > 0}
        if not positive:
            raise ValueError("traffic needs at least one version with a positive weight")
        divisor = math.gcd(*positive.values())
        self._keys = tuple(positive)
        self._weights = tuple(weight // divisor for weight in positive.values())
        self._total = sum(self._weights)
        self._credit = [0] * len(self._keys)
        self.weights: Mapping[str, int] = dict(positive)
        """The positive weights, as given."""
        if rng is not None:
            for _ in range(rng.randrange(self._total)):
                self.pick()

    def pick(self) -> str:
        """The key of the version that serves the next request."""
        if self._total == 1:
            return self._keys[0]
        credit = self._credit
        best = 0
        for i, weight in enumerate(self._weights):
            credit[i] += weight
            if credit[i] > credit[best]:
                best = i
        credit[best] -= self._total
        return self._keys[best]
