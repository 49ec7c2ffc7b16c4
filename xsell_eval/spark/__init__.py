"""The Spark engine (``compare --engine spark``): data preparation, adapters and metrics on Spark.

Only this package imports ``pyspark`` (an import-linter contract checks it); it is the
optional extra ``xsell-eval[spark]``. Importing ``xsell_eval.spark`` itself is cheap: every
module that needs pyspark imports it through :func:`xsell_eval.spark.session.pyspark`, which
raises :class:`~xsell_eval.errors.MissingExtraError` with the install hint.

Layout: :mod:`.session` (Java check, master check, the SparkSession), :mod:`.data` (read,
clean, index), :mod:`.prepare` (temporal split, basket-completion queries), :mod:`.adapters`
(``popular``, ``rules`` and the registry of Spark adapters), :mod:`.metrics` (per-query
metrics as a DataFrame), :mod:`.engine` (the comparison end to end) and :mod:`.result` (a Spark
comparison as the report's ``CompareResult``: the same run directory and report as pandas).
"""
