"""``python -m xsell_eval`` runs the command-line interface (same as the ``xsell-eval`` script)."""

from xsell_eval.cli import main

if __name__ == "__main__":
    main()
