"""The notebook-style example runs against the demo's configuration and shows no clear value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "analyst_extract.py"


def test_the_example_masks_the_extract_as_the_analysts_see_it(demo, tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    run = subprocess.run(
        [sys.executable, str(EXAMPLE), demo["config"], demo["resource"]],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "*******6789" in out and "***@example.com" in out and "[phone] about SSN [ssn]" in out
    for clear in ["123-45-6789", "4111 1111 1111 1111", "ada.anders1@", "+1-415-555-2671", "1984-05-17"]:
        assert clear not in out, clear
