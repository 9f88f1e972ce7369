"""docs/adding-a-market.md works as written: its files form a market that passes the conformance
suite and its own closed-form test."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "adding-a-market.md"
BLOCK = re.compile(r"<!-- file: (?P<path>[\w/.]+) -->\n```python\n(?P<code>.*?)```", re.S)


def test_the_guide_builds_a_conformant_market(tmp_path):
    files = {m["path"]: m["code"] for m in BLOCK.finditer(PAGE.read_text())}
    assert {"mylab_markets/first_price/core.py", "mylab_markets/first_price/env.py",
            "mylab_markets/first_price/variants.py", "check_first_price.py",
            "test_first_price.py"} <= set(files)
    for path, code in files.items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(code)
    for package in ("mylab_markets", "mylab_markets/first_price"):
        (tmp_path / package / "__init__.py").touch()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    checked = subprocess.run([sys.executable, "check_first_price.py"], cwd=tmp_path, env=env,
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr[-3000:]
    assert checked.stdout.count("conformant") == 2
    tested = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "test_first_price.py"], cwd=tmp_path, env=env, capture_output=True,
                            text=True)
    assert tested.returncode == 0, tested.stdout[-3000:]
