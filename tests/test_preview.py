"""`python -m engine preview`: the contact sheet of training renders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PIL import Image

from engine.data.shapes import ALL_CATEGORIES

ROOT = Path(__file__).resolve().parents[1]


def test_preview_writes_a_sheet_with_a_row_per_category(tmp_path):
    out = tmp_path / "sheet.png"
    done = subprocess.run([sys.executable, "-m", "engine", "preview", "-o", str(out), "--seeds", "1", "--size", "32",
                           "--threads", "1"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with Image.open(out) as sheet:
        assert sheet.format == "PNG" and sheet.size == (32, 32 * len(ALL_CATEGORIES))


def test_preview_of_chosen_categories_and_a_clear_line_for_an_unknown_one(tmp_path):
    out = tmp_path / "sheet.png"
    run = [sys.executable, "-m", "engine", "preview", "-o", str(out), "--seeds", "2", "--size", "32", "--threads", "1"]
    done = subprocess.run(run + ["--categories", "primitives"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with Image.open(out) as sheet:
        assert sheet.size == (64, 32)
    bad = subprocess.run(run + ["--categories", "boat"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "unknown categories boat" in bad.stderr
