"""Run the registry in a fresh interpreter where an optional library cannot be imported."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any


def run_without(module: str, names: tuple[str, ...], spec: str) -> dict[str, Any]:
    """Hide ``module``, list the adapters ``names``, create ``spec`` and fit it on the toy shop.

    Returns ``{"extras": {name: extra}, "errors": {name: listing error}, "params": the created
    adapter's params, "raised": "ExceptionType message" of the fit ("" if it fitted)}``.
    """
    code = textwrap.dedent(
        f"""
        import json, sys
        sys.modules[{module!r}] = None
        from xsell_eval.adapters import registry
        rows = {{r["name"]: r for r in registry.describe()}}
        out = {{"extras": {{n: rows[n]["extra"] for n in {names!r}}},
               "errors": {{n: rows[n]["error"] for n in {names!r}}}}}
        adapter = registry.create({spec!r})
        out["params"] = adapter.params
        from xsell_eval.testing import toy_dataset
        try:
            adapter.fit(toy_dataset())
            out["raised"] = ""
        except Exception as exc:
            out["raised"] = f"{{type(exc).__name__}} {{exc}}"
        print(json.dumps(out))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(done.stderr)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))
