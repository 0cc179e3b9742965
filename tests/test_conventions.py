"""docs/CONVENTIONS.md is the project's copy of the contracts shared by all parts of imdec; it must
not drift from the shared original where that is checked out beside the repository."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "CONVENTIONS.md"


@pytest.mark.skipif(not SHARED.is_file(), reason="no shared checkout beside the repository")
def test_the_conventions_copy_matches_the_shared_original():
    assert (ROOT / "docs" / "CONVENTIONS.md").read_text() == SHARED.read_text()


def test_every_conventions_reference_names_the_copy():
    stale = []
    skip = {".venv", ".git", "runs", "dist", "build", "out", "wheels"}
    for path in ROOT.rglob("*"):
        if path.suffix not in {".py", ".md", ".toml"} or skip & set(path.relative_to(ROOT).parts) \
                or path.name == "CONVENTIONS.md" or path == Path(__file__).resolve():
            continue
        text = path.read_text(errors="replace")
        for line in text.splitlines():
            if "CONVENTIONS.md" in line and "docs/CONVENTIONS.md" not in line:
                stale.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    assert not stale, "\n".join(stale)
