"""Recommender adapters and their registry."""

from xsell_eval.adapters.base import Adapter, BaseAdapter, HyperParam

__all__ = ["Adapter", "BaseAdapter", "HyperParam"]
