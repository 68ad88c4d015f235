"""Rewrite tests/golden/ from the current code (only for an intended change of behaviour)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from golden_cases import CASES, GOLDEN, run_case  # noqa: E402


def main() -> None:
    for name in sys.argv[1:] or CASES:
        folder = GOLDEN / name
        folder.mkdir(parents=True, exist_ok=True)
        for fname, data in run_case(name).items():
            (folder / fname).write_bytes(data)
        print(f"golden {name}: {', '.join(sorted(p.name for p in folder.iterdir()))}")


if __name__ == "__main__":
    main()
