"""Regenerate the configuration-key table of docs/MODEL.md from the schema (tests/test_keys.py checks it)."""

from __future__ import annotations

from pathlib import Path

from elsa_tlm.config import keys_table

DOC = Path(__file__).resolve().parents[1] / "docs" / "MODEL.md"


def main() -> None:
    text = DOC.read_text()
    head = text.index("| key | default |")
    lines = text[head:].split("\n")
    n = next(i for i, line in enumerate(lines) if not line.startswith("|"))
    DOC.write_text(text[:head] + keys_table() + "\n".join(lines[n:]))


if __name__ == "__main__":
    main()
