"""pytest imports test modules by basename: the same name in tests/unit and
tests/integration breaks collection of the whole suite."""
from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_test_module_basenames_are_unique():
    unit = {p.name for p in (TESTS / "unit").glob("test_*.py")}
    integration = {p.name for p in (TESTS / "integration").glob("test_*.py")}
    assert not unit & integration, sorted(unit & integration)
