"""``xsell-eval report RUN_DIR``: re-render a run's report from its stored results alone."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from xsell_eval.cli._app import app, console, handle_errors

FORMATS = ("md", "html")


@dataclass(frozen=True)
class RunDirState:
    """What a run directory is and whether ``report`` can render it.

    Attributes:
        kind: ``"compare"`` (also ``run`` directories), ``"abtest"`` or ``"tune"``.
        missing: files of :data:`xsell_eval.results.RUN_FILES` that are absent (compare only).
        format_version: ``manifest.json``'s format version (compare only; None if unreadable).
        problem: why ``report`` refuses it, as the end of a sentence starting with the
            directory ("is incomplete: missing ...", "has format version 0; ..."); ``""``
            when it can render it.
    """

    kind: str
    missing: tuple[str, ...] = ()
    format_version: Any = None
    problem: str = ""

    @property
    def complete(self) -> bool:
        """True when ``xsell-eval report`` can render the directory."""
        return not self.problem


def inspect_run_dir(d: Path) -> RunDirState | None:
    """The one completeness check shared by ``report`` and ``runs list`` (None: not a run directory).

    Reads only file names and ``manifest.json``; the same rules as :func:`rerender`: a
    directory with ``abtest.json`` or ``tuning.json`` and no ``context.json`` is an A/B or
    tuning run, anything else with a run file is a compare run that needs every file of
    :data:`xsell_eval.results.RUN_FILES` and the current format version.
    """
    from xsell_eval.results import (  # pandas: imported when a command runs, not at start-up
        FORMAT_VERSION,
        RUN_FILES,
        run_kind,
    )

    if not d.is_dir() or run_kind(d) is None:
        return None
    if not (d / "context.json").exists() and (d / "abtest.json").exists():
        return RunDirState("abtest")
    if not (d / "context.json").exists() and (d / "tuning.json").exists():
        return RunDirState("tune")
    missing = tuple(n for n in RUN_FILES if not (d / n).exists())
    if missing:
        problem = (
            f"is incomplete: missing {', '.join(missing)} (was the run interrupted? re-run `xsell-eval compare ... "
            "--out DIR --resume` to finish it)"
        )
        return RunDirState("compare", missing=missing, problem=problem)
    try:
        version = json.loads((d / "manifest.json").read_text(encoding="utf-8")).get("format_version")
    except (OSError, ValueError, AttributeError) as exc:
        return RunDirState("compare", problem=f"has an unreadable manifest.json ({type(exc).__name__}: {exc})")
    if version != FORMAT_VERSION:
        return RunDirState(
            "compare",
            format_version=version,
            problem=f"has format version {version!r}; this xsell-eval reads version {FORMAT_VERSION}",
        )
    return RunDirState("compare", format_version=version)


def resolve_run_dir(path: Path) -> Path:
    """``path`` itself, or the run directory holding the file ``path`` (e.g. ``runs/x/report.md``).

    Raises:
        RunDirError: ``path`` does not exist, or is a file outside any run directory.
    """
    from xsell_eval.errors import RunDirError

    d = Path(path)
    if d.is_dir():
        return d
    if d.is_file():
        if inspect_run_dir(d.parent) is not None:
            return d.parent
        raise RunDirError(
            f"'{d}' is a file, not a run directory: give the run directory (e.g. runs/NAME), not a file in it"
        )
    if inspect_run_dir(d.parent) is not None:
        raise RunDirError(f"'{d}' does not exist; give the run directory ('{d.parent}'), not a file in it")
    raise RunDirError(f"run directory '{d}' does not exist")


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

    ``run_dir`` may also be a file inside the run directory (``runs/x/report.md``).

    Raises:
        RunDirError: not a run directory, incomplete, or an older format (the check of
            :func:`inspect_run_dir`, which ``runs list`` shares).
    """
    from xsell_eval.errors import ConfigError, RunDirError
    from xsell_eval.results import write_report

    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    d = resolve_run_dir(Path(run_dir))
    state = inspect_run_dir(d)
    if state is None:
        raise RunDirError(
            f"'{d}' is not a run directory (no config.json, manifest.json, context.json, abtest.json or tuning.json)"
        )
    if state.problem:
        raise RunDirError(f"run directory '{d}' {state.problem}")
    old = (d / "report.md").read_bytes() if (d / "report.md").is_file() else None
    if state.kind == "abtest":
        from xsell_eval.results import rerender_abtest_run

        text = rerender_abtest_run(d)
    elif state.kind == "tune":
        from xsell_eval.report.tuning import render_tuning_report
        from xsell_eval.tuning import read_tune_run

        results, ctx = read_tune_run(d)
        text = render_tuning_report([r.to_dict() for r in results], context=ctx)
    else:
        from xsell_eval.report.markdown import render_run_report

        result = read_compare_run(d)
        text = render_run_report(result, d)
    written = write_report(d, text, html=fmt == "html")
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
    d = resolve_run_dir(run_dir)
    if d != run_dir:
        console.print(f"'{run_dir}' is a file; re-rendering its run directory '{d}'")
    paths, unchanged = rerender(d, fmt)
    state = "unchanged (byte-identical)" if unchanged else "rewritten"
    console.print(f"report.md {state}; wrote {', '.join(str(p) for p in paths)}")
