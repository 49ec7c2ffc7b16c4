"""The command line that reproduces a comparison, for runs not started from a typed command.

A run started from the CLI records the command as typed (``CompareResult.command``) and the
report prints that. A run started from Python has none; :func:`equivalent_command` gives the
``xsell-eval compare`` line with the same settings.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from xsell_eval.tuning.storage import DEFAULT_STORAGE

if TYPE_CHECKING:
    from xsell_eval.pipeline import CompareConfig
    from xsell_eval.result import TuningSummary


def equivalent_command(config: CompareConfig, tuning: TuningSummary | None = None) -> str:
    """The ``xsell-eval compare`` command that reproduces a run with this config (and tuning mode)."""
    tuned_params: dict[str, set[str]] = {}
    for e in tuning.adapters if tuning is not None else ():
        if e.tuned:
            tuned_params[e.adapter] = set(e.params)
    specs = []
    recs = config.recs or {}
    for spec in config.adapters:
        if spec in recs:  # an exported recommendations file: --recs below, not an adapter spec
            continue
        name, _, inline = spec.partition(":")
        given = {**(config.params.get(name) or {}), **(config.params.get(spec) or {})}
        fixed = {k: v for k, v in given.items() if k not in tuned_params.get(spec, set())}
        if fixed:
            extra_params = ",".join(f"{k}={_spec_value(v)}" for k, v in sorted(fixed.items()))
            spec = f"{spec},{extra_params}" if inline else f"{name}:{extra_params}"
        specs.append(spec)
    parts = ["xsell-eval", "compare", *specs]
    opts: list[tuple[str, Any]] = []
    if config.data:
        opts.append(("--data", config.data))
    if config.loader != "auto":
        opts.append(("--loader", config.loader))
    if config.catalog:
        opts.append(("--catalog", config.catalog))
    if config.columns:
        opts.append(("--columns", ",".join(f"{k}={v}" for k, v in config.columns.items())))
    if config.cleaning:
        opts.append(("--clean", config.cleaning))
    opts += [
        ("--split", config.split),
        ("--protocol", config.protocol),
        ("--k", ",".join(map(str, config.ks))),
        ("--metric", config.primary_metric),
        ("--baseline", config.baseline),
        ("--seed", config.seed),
    ]
    if config.test_fraction != 0.2:
        opts.append(("--test-fraction", config.test_fraction))
    if config.hide is not None:
        opts.append(("--hide", config.hide))
    elif config.reveal not in (None, 1):
        opts.append(("--reveal", config.reveal))
    if config.reveal_seeds != 1:
        opts.append(("--reveal-seeds", config.reveal_seeds))
    if config.max_queries is not None:
        opts.append(("--max-queries", config.max_queries))
    if config.cutoff:
        opts.append(("--cutoff", config.cutoff))
    if config.n_bootstrap != 1000:
        opts.append(("--bootstrap", config.n_bootstrap))
    opts += [("--recs", f"{label}={path}") for label, path in recs.items()]
    if config.ci_unit != "customer":
        opts.append(("--ci-unit", config.ci_unit))
    if config.test != "bootstrap":
        opts.append(("--test", config.test))
    if config.engine == "spark":
        opts.append(("--engine", "spark"))
        if config.spark_master:
            opts.append(("--spark-master", config.spark_master))
    if tuning is not None and tuning.mode == "tune" and tuning.budget:
        opts.append(("--tune", tuning.budget))
    elif tuning is not None and tuning.mode == "tuned":
        parts.append("--tuned")
    if tuning is not None and tuning.storage and tuning.storage != DEFAULT_STORAGE:
        opts.append(("--storage", tuning.storage))  # as recorded: a password shows as ***
    for flag, val in opts:
        parts += [flag, str(val)]
    return " ".join(shlex.quote(p) for p in parts)


def _spec_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)
