"""Entry script for ``spark-submit`` (``python -m xsell_eval`` is a module, which spark-submit cannot run).

    spark-submit --master local[2] "$(python -c 'import xsell_eval.cli.submit as m; print(m.__file__)')" \\
        compare popular rules --engine spark --data PATH

spark-submit's master is passed on as ``--spark-master`` unless the command names one
(:func:`xsell_eval.spark.submit.with_master`); the rest is the ordinary CLI.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """The CLI, with spark-submit's master for an ``--engine spark`` command."""
    from xsell_eval.cli import main as cli_main
    from xsell_eval.spark.submit import submitted_master, with_master

    args = list(sys.argv[1:] if argv is None else argv)
    sys.argv = ["xsell-eval", *with_master(args, submitted_master() if "--engine" in " ".join(args) else None)]
    cli_main()


if __name__ == "__main__":
    main()
