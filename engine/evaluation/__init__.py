"""Held-out evaluation of a model next to two baselines: `evaluate(...)` returns the report.

held_out.py runs it, baselines.py holds the mean-shape and retrieval baselines, metrics.py the
metrics of docs/CONVENTIONS.md (IoU, Chamfer-L1, F-score, normal consistency).
"""

from .held_out import evaluate, format_table, held_out_views, store_report  # noqa: F401
