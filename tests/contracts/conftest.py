"""The contract tests: every payload the template hands to an AWS API, checked against AWS's
documented rules, on the real template (no findings) and on broken copies (the planted fault
is found)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The template tests' offline helpers (load, translate, DefinitionSubstitutions).
sys.path.insert(0, str(HERE.parent / "template"))
