"""Data: loaders, cleaning, the shared :class:`Dataset`, and the synthetic shop."""

from xsell_eval.data.dataset import Dataset

__all__ = ["Dataset"]
