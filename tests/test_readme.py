"""The README's Python example runs as written (on the real Omniglot)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.integration
def test_readme_python_example_runs(omniglot_root):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python example"
    for code in blocks:
        namespace: dict = {}
        exec(
            compile(code.replace('"~/data"', repr(str(omniglot_root))), "README", "exec"), namespace
        )
        if "trace" in namespace:
            assert namespace["trace"].context_updates == 6
