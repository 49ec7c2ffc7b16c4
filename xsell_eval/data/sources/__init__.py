"""Data sources: one module per file format, read into canonical lines.

Layout (the entry point is :func:`xsell_eval.data.loaders.load_dataset`)::

    _parsing.py        toolkit: RawData/LoadOptions, sniffing, table reading, typed converters
    generic.py         csv / parquet in canonical columns (or a --columns mapping)
    online_retail.py   UCI Online Retail I and II
    instacart.py       Instacart orders + order_products (synthetic timestamps)
    baskets.py         one basket per line
    completejourney.py 84.51°/dunnhumby Complete Journey (+ non-product rules)
    movielens.py       MovieLens ratings as per-(user, day) baskets
    registry.py        LOADERS: name -> reader, description, default cleaning
    detect.py          detect_loader: pick a loader from names and columns

A new source is a module here with a ``_read_<name>(path, opts) -> RawData`` function and
one entry in :data:`~xsell_eval.data.sources.registry.LOADERS` (plus a detection rule).
"""
