"""``xsell-eval report RUN_DIR``: re-render a run's report from its stored results alone."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from xsell_eval.cli._app import app, console, handle_errors

FORMATS = ("md", "html")


def read_compare_run(run_dir: Path) -> Any:
    """:func:`~xsell_eval.results.read_run` with unreadable files turned into one clear RunDirError."""
    from xsell_eval.errors import RunDirError, XsellError
    from xsell_eval.results import read_run

    try:
        return read_run(run_dir)
    except XsellError:
        raise
    except KeyError as exc:
        raise RunDirError(
            f"run directory '{run_dir}': context.json has no {exc} entry — written by an older or different "
            "xsell-eval; re-run the comparison"
        ) from None
    except (ValueError, OSError, TypeError) as exc:
        raise RunDirError(
            f"run directory '{run_dir}': a stored file could not be read ({type(exc).__name__}: {exc}); "
            "the run may be incomplete or corrupted — re-run it"
        ) from None


def rerender(run_dir: Path, fmt: str = "md") -> tuple[list[Path], bool]:
    """Re-render the report files of a run directory; returns (paths written, report.md unchanged).

    Compare / ``run`` directories are rendered from ``config.json``, ``manifest.json``,
    ``context.json`` and ``tables/`` (figures redrawn into ``plots/``); ``abtest`` and
    ``tune`` directories by their own renderers.

    Raises:
        RunDirError: not a run directory, incomplete, or an older format.
    """
    from xsell_eval.errors import ConfigError, RunDirError

    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    d = Path(run_dir)
    if not d.is_dir():
        raise RunDirError(f"run directory '{d}' does not exist")
    old = (d / "report.md").read_bytes() if (d / "report.md").is_file() else None
    if not (d / "context.json").exists() and (d / "abtest.json").exists():
        from xsell_eval.abtest.report import rerender_abtest_run

        text = rerender_abtest_run(d)
    elif not (d / "context.json").exists() and (d / "tuning.json").exists():
        from xsell_eval.report.tuning import render_tuning_report
        from xsell_eval.tuning import read_tune_run

        results, ctx = read_tune_run(d)
        text = render_tuning_report([r.to_dict() for r in results], context=ctx)
        (d / "report.md").write_text(text, encoding="utf-8")
    else:
        from xsell_eval.report.markdown import render_run_report

        result = read_compare_run(d)
        text = render_run_report(result, d)
        (d / "report.md").write_text(text, encoding="utf-8")
    written = [d / "report.md"]
    if fmt == "html":
        from xsell_eval.report.html import write_html

        written.append(write_html(d, text))
    return written, old == text.encode("utf-8")


@app.command()
@handle_errors
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by compare, run, abtest or tune.")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="md: report.md | html: report.md and a standalone report.html")
    ] = "md",
) -> None:
    """Re-render a run's report from its stored results (byte-identical for the same run)."""
    paths, unchanged = rerender(run_dir, fmt)
    state = "unchanged (byte-identical)" if unchanged else "rewritten"
    console.print(f"report.md {state}; wrote {', '.join(str(p) for p in paths)}")
