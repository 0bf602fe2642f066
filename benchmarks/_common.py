"""What the benchmark scripts share: the same-run figures and their output."""

from __future__ import annotations

import json


def figures(n: int, t_floor: float, t_naive: float, t_ours: float) -> dict[str, object]:
    """Seconds of the three approaches over ``n`` files, and the ratios."""
    return {
        "floor_s": round(t_floor, 3),
        "naive_s": round(t_naive, 3),
        "ours_s": round(t_ours, 3),
        "ours_per_file_ms": round(1000 * t_ours / n, 2),
        "ours_vs_floor": round(t_ours / t_floor, 2),
        "ours_vs_naive": round(t_ours / t_naive, 2),
    }


def show(result: dict[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
        return
    width = max(len(k) for k in result)
    for k, v in result.items():
        print(f"{k:>{width}}: {v}")
