"""Two `python -m engine evaluate --out` reports on the same test shapes, compared shape by shape.

    python tools/compare_reports.py runs/ev-global.json runs/ev-local.json [--metric iou]

Prints, per category and overall, the mean of each report, the mean paired difference (second
minus first) and its standard error over the shapes both reports scored, and how many shapes the
second one wins. Paired differences cancel out what makes one test shape harder than another, so
they separate two models with far fewer shapes than the two means would.
"""

from __future__ import annotations

import argparse
import json
import math
import sys


def shape_scores(path: str, metric: str) -> dict[tuple[str, int], float]:
    """{(category, seed): score} of one report's model."""
    with open(path) as f:
        report = json.load(f)
    if "per_shape" not in report:
        sys.exit(f"{path} has no per-shape scores (reports from before they were written); evaluate again")
    if report["per_shape"] and metric not in report["per_shape"][0]:
        sys.exit(f"{path} has no {metric!r} per shape; it has {', '.join(report['per_shape'][0])}")
    return {(r["category"], r["seed"]): float(r[metric]) for r in report["per_shape"]}


def paired(first: list[float], second: list[float]) -> dict:
    """Means, mean difference, its standard error and the second's wins over paired scores."""
    n = len(first)
    diffs = [b - a for a, b in zip(first, second)]
    mean = sum(diffs) / n
    spread = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1)) if n > 1 else float("nan")
    return {"n": n, "first": sum(first) / n, "second": sum(second) / n, "diff": mean,
            "stderr": spread / math.sqrt(n), "wins": sum(d > 0 for d in diffs)}


def compare(path_a: str, path_b: str, metric: str) -> list[tuple[str, dict]]:
    a, b = shape_scores(path_a, metric), shape_scores(path_b, metric)
    common = sorted(set(a) & set(b))
    if not common:
        sys.exit(f"{path_a} and {path_b} share no test shapes")
    rows = []
    for category in sorted({c for c, _ in common}):
        keys = [k for k in common if k[0] == category]
        rows.append((category, paired([a[k] for k in keys], [b[k] for k in keys])))
    rows.append(("all shapes", paired([a[k] for k in common], [b[k] for k in common])))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("first")
    p.add_argument("second")
    p.add_argument("--metric", default="iou", help="iou, fscore@0.01, chamfer_l1 or pieces")
    args = p.parse_args()
    print("| category | shapes | first | second | second - first | std. error | second wins |")
    print("|---|---|---|---|---|---|---|")
    for category, r in compare(args.first, args.second, args.metric):
        print(f"| {category} | {r['n']} | {r['first']:.3f} | {r['second']:.3f} | {r['diff']:+.3f} "
              f"| {r['stderr']:.3f} | {r['wins']} of {r['n']} |")


if __name__ == "__main__":
    main()
