"""What ``spark-submit`` hands the CLI's entry script (:mod:`xsell_eval.cli.submit`).

    spark-submit --master local[2] "$(python -c 'import xsell_eval.cli.submit as m; print(m.__file__)')" \\
        compare popular rules --engine spark --data PATH

The master is spark-submit's (``--master``, or ``spark.master`` in spark-defaults.conf): it is passed
on as ``--spark-master`` unless the command names one, so the session the engine builds is the one
spark-submit prepared. Everything else is the ordinary CLI (``xsell-eval --help``).
"""

from __future__ import annotations

import itertools


def submitted_master() -> str | None:
    """``spark.master`` as spark-submit set it (None outside spark-submit or without a master)."""
    import os

    if "PYSPARK_GATEWAY_PORT" not in os.environ:  # set by spark-submit for the Python driver
        return None
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()  # connect to spark-submit's JVM: its system properties hold spark.master
    return SparkConf().get("spark.master", None)


def with_master(args: list[str], master: str | None) -> list[str]:
    """``args`` plus ``--spark-master MASTER`` for an ``--engine spark`` command that names no master.

    >>> with_master(["compare", "rules", "--engine", "spark"], "yarn")
    ['compare', 'rules', '--engine', 'spark', '--spark-master', 'yarn']
    >>> with_master(["compare", "rules", "--engine", "spark", "--spark-master", "local[2]"], "yarn")[-1]
    'local[2]'
    """
    spark = "--engine=spark" in args or any(a == "--engine" and b == "spark" for a, b in itertools.pairwise(args))
    named = any(a == "--spark-master" or a.startswith("--spark-master=") for a in args)
    return [*args, "--spark-master", master] if spark and master and not named else list(args)


__all__ = ["submitted_master", "with_master"]
