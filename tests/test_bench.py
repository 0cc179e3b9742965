"""`python -m engine bench`: the image-to-mesh report on a small model, and the analytic mode."""

from __future__ import annotations

import json

from engine.bench import format_table
from engine.cli import main

REPORT_KEYS = {"date", "machine", "device", "torch", "model", "images", "matmul_peak_gflops",
               "decoder_flops_per_query", "rows", "summary"}
ROW_KEYS = {"resolution", "image", "vertices", "faces", "seconds", "decoder_queries", "floor", "queries_over_floor",
            "peak_rss_mb", "cuda_peak_mb", "decoder_gflops", "iou_vs_dense", "references", "share_of_matmul_peak"}


def test_bench_reports_each_resolution_beside_the_dense_reference(fixture_model, object_png, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--model", fixture_model, "--images", str(object_png), "--resolutions", "32,64",
                 "--references", "dense", "--device", "cpu", "--out", str(out), "--json", "--threads", "1"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report == json.loads(out.read_text())
    assert set(report) == REPORT_KEYS and report["images"] == [object_png.name] and report["device"] == "cpu"
    assert [r["resolution"] for r in report["rows"]] == [32, 64]
    for row in report["rows"]:
        assert set(row) == ROW_KEYS and set(row["seconds"]) >= {"total", "load", "encode", "extract", "mesh"}
        assert row["faces"] > 0 and row["decoder_queries"] > 0
        assert set(row["references"]) == {"dense"} and row["references"]["dense"]["queries"] >= row["decoder_queries"]
        assert 0.99 <= row["references"]["dense"]["iou_vs_ours"] <= 1.0
    assert [s["resolution"] for s in report["summary"]] == [32, 64] and "dense" in report["summary"][0]
    table = format_table(report).splitlines()
    assert table[-2].startswith("| 32 |") and table[-1].startswith("| 64 |")


def test_bench_on_an_analytic_shape_prints_one_json_line_per_method_and_resolution(capsys):
    assert main(["bench", "--analytic", "sphere", "--methods", "dense,adaptive", "--resolutions", "64",
                 "--device", "cpu", "--threads", "1"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["method"], r["resolution"], r["shape"]) for r in rows] == [("dense", 64, "sphere"), ("adaptive", 64, "sphere")]
    assert rows[1]["iou_vs_dense"] > 0.99 and rows[1]["queries"] < rows[0]["queries"]


def test_bench_rejects_unknown_extraction_methods(capsys):
    assert main(["bench", "--analytic", "sphere", "--methods", "dense,marching"]) == 2
    assert "--methods" in capsys.readouterr().err


def test_adaptive_alone_is_measured_against_a_dense_evaluation_at_the_default_chunk():
    """Without a dense run beside it, the adaptive row's IoU comes from its own dense evaluation
    (whole grid planes a call, at the device's default number of points a call)."""
    from engine.bench.analytic import sphere_fn
    from engine.bench.extraction import compare_methods

    (row,) = compare_methods(sphere_fn(), [48], methods=["adaptive"], device="cpu")
    assert row["iou_vs_dense"] > 0.99
