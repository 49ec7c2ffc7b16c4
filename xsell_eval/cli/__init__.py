"""Command-line interface (typer + rich). Each command group lives in its own module."""

from __future__ import annotations

import importlib

from xsell_eval.cli._app import app

# Command modules register themselves on ``app`` when imported; a module that is
# not written yet is simply absent.
for _mod in ("data", "generate", "compare", "adapters", "rules", "abtest", "tune", "report", "runs", "run", "queries"):
    try:
        importlib.import_module(f"xsell_eval.cli.{_mod}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"xsell_eval.cli.{_mod}":
            raise


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
