"""The typer application and the error boundary shared by all commands.

Only the CLI prints or exits. Commands parse options, call the library, render.
Every :class:`~xsell_eval.errors.XsellError` becomes one red line on stderr and exit
code 1; ``--debug`` (or ``XSELL_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import functools
import os
import shlex
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from typer.core import TyperGroup


class _RecordingGroup(TyperGroup):
    """The root command group; it keeps the arguments it was called with (see :func:`typed_command`)."""

    def main(self, args: Any = None, *rest: Any, **kwargs: Any) -> Any:
        _state["argv"] = list(sys.argv[1:] if args is None else args)
        return super().main(args, *rest, **kwargs)


app = typer.Typer(
    cls=_RecordingGroup,
    name="xsell-eval",
    help="Evaluate cross-selling recommenders on the same data, splits and metrics, and report the decision.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Inspect, list and generate datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

console = Console()
err_console = Console(stderr=True)

_state: dict[str, Any] = {"debug": os.environ.get("XSELL_DEBUG", "") not in ("", "0")}

F = TypeVar("F", bound=Callable[..., Any])


def typed_command() -> str | None:
    """The command line as typed (``xsell-eval compare cf rules --k 10``, quoted for a shell), or None outside the CLI.

    Recorded with a run so that its report says exactly what was run.
    """
    argv = _state.get("argv")
    return shlex.join(["xsell-eval", *argv]) if argv else None


# Options shared by every command that loads data (one definition, one help text).
DataOption = Annotated[
    str | None,
    typer.Option("--data", "-d", help="Data file or directory. Default: the embedded UCI Online Retail."),
]
LoaderOption = Annotated[str, typer.Option(help="Loader name (see `xsell-eval data list`); auto detects.")]
CatalogOption = Annotated[
    str | None, typer.Option(help="Optional catalog file (item_id,title,description,category,price).")
]
ColumnsOption = Annotated[
    str | None,
    typer.Option(
        "--columns", help="Column mapping for csv/parquet, canonical=source, e.g. 'user_id=Customer,item_id=SKU'."
    ),
]
CleanOption = Annotated[
    str | None,
    typer.Option(
        "--clean",
        help="Cleaning switches rule=drop|keep|raise on top of the loader's defaults, or a preset "
        "(default, literature, keep-all), e.g. 'missing_customer=keep,duplicates=keep'.",
    ),
]


# Evaluation options shared by compare and tune (defaults: xsell_eval.settings.CompareConfig).
ProtocolOption = Annotated[str, typer.Option(help="basket-completion | next-basket | item-to-item")]
SplitOption = Annotated[str, typer.Option(help="temporal | last-basket | random-basket")]
RevealOption = Annotated[int | None, typer.Option(help="basket-completion: items revealed as the cart.")]
HideOption = Annotated[
    int | None, typer.Option(help="basket-completion: hide this many items instead (reveal the rest).")
]
TestFractionOption = Annotated[float, typer.Option(help="Share of baskets (by time) in test.")]


def parse_columns(text: str | None) -> dict[str, str] | None:
    """``"user_id=Customer,item_id=SKU"`` -> ``{"user_id": "Customer", "item_id": "SKU"}``."""
    from xsell_eval.errors import ConfigError

    if text is None or not text.strip():
        return None
    out: dict[str, str] = {}
    for part in text.split(","):
        key, eq, value = part.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise ConfigError(f"--columns expects canonical=source pairs separated by commas, got {part.strip()!r}")
        out[key.strip()] = value.strip()
    return out


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    if debug:
        _state["debug"] = True


def fail(message: str) -> typer.Exit:
    """Print an error line to stderr and return the Exit(1) to raise."""
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code=1)


def handle_errors(func: F) -> F:
    """Decorator: turn XsellError (and a few user-caused OS errors) into exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from xsell_eval.errors import XsellError

        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except XsellError as exc:
            if _state["debug"]:
                raise
            raise fail(str(exc)) from None
        except (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
            if _state["debug"]:
                raise
            raise fail(f"{exc.strerror or exc}: {exc.filename}") from None
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/] — completed results were kept.")
            raise typer.Exit(code=130) from None

    return wrapper  # type: ignore[return-value]


def parse_ks(text: str) -> list[int]:
    """``"5,10,20"`` -> ``[5, 10, 20]``; raises ConfigError on anything else."""
    from xsell_eval.errors import ConfigError

    ks: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            k = int(part)
        except ValueError:
            raise ConfigError(f"--k must be a comma-separated list of integers >= 1, got {text!r}") from None
        if k < 1:
            raise ConfigError(f"--k values must be integers >= 1, got {k}")
        ks.append(k)
    return sorted(set(ks))
