"""xsell-eval: evaluate cross-selling recommenders on the same data, splits and metrics."""

__version__ = "0.1.0"
