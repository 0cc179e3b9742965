"""Speed benchmarks: `bench(...)` times image to mesh against the dense and IM-NET references.

pipeline.py runs and reports it, extraction.py compares the extraction methods on any point
function (analytic.py: shapes without a model), machine.py measures memory and matmul peak.
"""

from .pipeline import bench, format_table  # noqa: F401
