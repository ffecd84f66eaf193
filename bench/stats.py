"""Summaries of repeated measurements: median, min, max and percentiles."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), nearest rank: a value that was really measured."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(math.ceil(q / 100 * len(ordered)), 1)
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict[str, float]:
    """median, min, max, p99 and n of one series."""
    if not values:
        return {"n": 0, "median": math.nan, "min": math.nan, "max": math.nan, "p99": math.nan}
    return {
        "n": len(values),
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "p99": percentile(values, 99),
    }


def ratio(a: float, b: float) -> float:
    return a / b if b else math.nan
