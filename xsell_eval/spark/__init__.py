"""Spark engine: data preparation, scoring and metrics on Spark DataFrames (optional extra ``[spark]``)."""
