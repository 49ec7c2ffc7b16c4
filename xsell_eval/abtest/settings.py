"""Settings of a simulated A/B test: :class:`ABTestSettings`, the one place their defaults and checks live.

``xsell-eval abtest`` reads its option defaults from this model and builds one from its
options; an experiment file's ``[abtest]`` section *is* this model (plus the checks that
need the rest of the file, in :mod:`xsell_eval.config`). :meth:`ABTestSettings.check`
holds every check of the values, worded for the caller: ``label`` names a key the way
the user wrote it (``--traffic`` on the command line, ``[abtest] traffic_per_day`` in a
file) and ``where`` prefixes the message once (the file name).

Importing this module loads pydantic only; numpy and the simulator are imported by the
checks when they run, so ``xsell-eval --help`` stays fast.

Example:
    >>> s = ABTestSettings(visitors=1, split=[50.0, 50.0])
    >>> s.check(["rules", "cf"], label=lambda k: "--" + k.replace("_", "-"))
    Traceback (most recent call last):
    ...
    xsell_eval.errors.ConfigError: --visitors must be at least the number of arms (2), got 1
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from xsell_eval.errors import ConfigError, DataError

#: Keys whose value must be an integer of at least this much (``visitors`` depends on the arms).
_INT_MINIMUM = {"k": 1, "traffic_per_day": 1, "bootstrap": 100}

#: The keys of the shopper-response model (:meth:`ResponseModel.from_options` names).
RESPONSE_KEYS = ("response", "curve", "exam_top", "exam_decay", "p_hit", "p_other", "organic_rate", "oracle_smoothing")


def flag(key: str) -> str:
    """``p_hit`` → ``--p-hit``: the command-line option that sets a key (``traffic_per_day`` → ``--traffic``)."""
    return "--traffic" if key == "traffic_per_day" else "--" + key.replace("_", "-")


class ABTestSettings(BaseModel):
    """What a simulated A/B test needs besides the arms' recommendations (the ``[abtest]`` keys).

    Attributes:
        arms: adapters in the arms, control first (None: the caller's default).
        visitors: simulated visitors in total.
        split: traffic percentage per arm, summing to 100 (None: equal shares).
        k: recommendations shown per visitor.
        response: acceptance source: ``replay`` | ``oracle`` | ``truth``.
        traffic_per_day: visitors per day (for the days of the test); None: the data's observed
            test-period baskets per day (:mod:`xsell_eval.abtest.traffic`).
        mde: relative minimum detectable effect on conversion (0.1 = +10 %).
        alpha: two-sided significance level.
        curve, exam_top, exam_decay, p_hit, p_other, organic_rate, oracle_smoothing: the
            shopper-response model (:class:`xsell_eval.abtest.response.ResponseModel`).
        bootstrap: bootstrap resamples of the revenue intervals.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    arms: list[str] | None = None
    visitors: int = 50_000
    split: list[float] | None = None
    k: int = 10
    response: str = "replay"
    traffic_per_day: int | None = None
    mde: float = 0.10
    alpha: float = 0.05
    curve: str = "log"
    exam_top: float = 0.5
    exam_decay: float = 0.7
    p_hit: float = 0.3
    p_other: float = 0.01
    organic_rate: float = 0.5
    oracle_smoothing: float = 5.0
    bootstrap: int = 2000

    @classmethod
    def default(cls, key: str) -> Any:
        """The default of ``key`` (what an option or ``[abtest]`` key left out means).

        Example:
            >>> ABTestSettings.default("visitors")
            50000
        """
        return cls.model_fields[key].default

    def response_options(self) -> dict[str, Any]:
        """The response-model keys, as :meth:`ResponseModel.from_options` takes them."""
        return {k: getattr(self, k) for k in RESPONSE_KEYS}

    def response_model(self, *, label: Callable[[str], str] = flag) -> Any:
        """The :class:`~xsell_eval.abtest.response.ResponseModel` of these settings, checked under ``label``."""
        from xsell_eval.abtest.response import ResponseModel

        return ResponseModel.from_options(label=label, **self.response_options())

    def weights(self, n_arms: int) -> Any:
        """Traffic share per arm (sum 1): ``split`` / 100, or equal shares."""
        import numpy as np

        if self.split is None:
            return np.full(n_arms, 1.0 / n_arms)
        return np.asarray(self.split, dtype=np.float64) / 100.0

    def ignored(self, model: Any) -> list[str]:
        """Response keys set on purpose that have no effect on ``model`` (e.g. ``p_hit`` with ``truth``)."""
        from xsell_eval.abtest.response import OPTION_FIELDS

        return [k for k, f in OPTION_FIELDS.items() if k in self.model_fields_set and not model.applies(f)]

    def check(
        self,
        arms: Sequence[str],
        *,
        label: Callable[[str], str] = flag,
        where: str = "",
        data: str | None = None,
        has_truth: bool | None = None,
    ) -> Any:
        """Every check of these settings for ``arms``, run before any work; returns the response model.

        Args:
            arms: the arms, control first (a repeated adapter is allowed: an A/A test).
            label: how the caller names a key (``--visitors``, ``[abtest] visitors``).
            where: said once at the start of a message (e.g. ``"run.toml: "``).
            data: the data path, for the ground-truth check of ``response = "truth"``.
            has_truth: whether that data carries a ground truth (None: look for it at ``data``).

        Raises:
            ConfigError: a value the simulation or its statistics cannot use.
            UnknownNameError: an unknown response source.
            DataError: ``response = "truth"`` on data without a ground truth.
        """
        from xsell_eval.abtest.analysis import check_test_settings
        from xsell_eval.abtest.simulate import check_visitors_per_arm

        n = len(arms)
        if n < 2:
            raise ConfigError(f"{where}{label('arms')}: an A/B test needs at least two arms, got {list(arms)}")
        if self.split is not None:
            self._check_split(n, arms, label, where)
        v = self.visitors
        if isinstance(v, bool) or not isinstance(v, int) or v < n:
            raise ConfigError(f"{where}{label('visitors')} must be at least the number of arms ({n}), got {v!r}")
        for key, low in _INT_MINIMUM.items():
            value = getattr(self, key)
            if value is None and key == "traffic_per_day":
                continue  # not given: the data's observed test-period traffic (abtest.traffic)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{where}{label(key)} must be an integer >= {low}, got {value!r}")
        check_visitors_per_arm(v, self.weights(n), option=label("visitors"), where=where)
        check_test_settings(alpha=self.alpha, mde=self.mde, label=lambda k: where + label(k))
        model = self.response_model(label=lambda k: where + label(k))
        if self.response == "truth":
            self._check_truth(data, has_truth, label, where)
        return model

    def _check_split(self, n: int, arms: Sequence[str], label: Callable[[str], str], where: str) -> None:
        shares = list(self.split or [])
        if len(shares) != n:
            raise ConfigError(
                f"{where}{label('split')} has {len(shares)} share(s) for {n} arm(s) ({', '.join(arms)}): "
                "give one percentage per arm"
            )
        if any(not math.isfinite(x) or x <= 0 for x in shares):
            raise ConfigError(f"{where}{label('split')} shares must be positive percentages, got {shares}")
        if abs(sum(shares) - 100.0) > 1e-6:
            raise ConfigError(
                f"{where}{label('split')} percentages must sum to 100, got {shares} (sum {sum(shares):g})"
            )

    @staticmethod
    def _check_truth(data: str | None, has_truth: bool | None, label: Callable[[str], str], where: str) -> None:
        if has_truth is None:
            from xsell_eval.data.synthetic import truth_dir

            has_truth = truth_dir(data) is not None
        if has_truth:
            return
        place = "the default data (UCI Online Retail)" if data is None else f"'{data}'"
        raise DataError(
            f"{where}{label('response')} = 'truth' needs data with a ground truth, and {place} has none "
            "(no truth.npz + truth.json in it or its folder); only data written by `xsell-eval data generate` "
            "(or an experiment's [data] generate = {...}) carries one. Use response 'replay' or 'oracle', or "
            "generate a shop: `xsell-eval data generate --out shop`"
        )


def parse_split(text: str | None) -> list[float] | None:
    """``"50,50"`` → ``[50.0, 50.0]`` (the ``--split`` option; the shares are checked by :meth:`ABTestSettings.check`).

    Raises:
        ConfigError: not comma-separated numbers.
    """
    if text is None:
        return None
    try:
        return [float(p) for p in text.split(",")]
    except ValueError:
        raise ConfigError(f"--split must be comma-separated percentages like 50,50, got {text!r}") from None


#: Options always written into the reproduce command; the others only when they differ from the default.
_ALWAYS = ("visitors", "split", "k", "response", "traffic_per_day", "mde", "seed", "aa")


def reproduce_command(arms: list[str], values: dict[str, Any], ignored: list[str], *, defaults: Any = None) -> str:
    """``xsell-eval abtest ARMS --option value ...``: the options that matter (``ignored`` ones left out).

    Args:
        arms: the arms as given.
        values: option key → value (``None`` / ``False``: not given).
        ignored: keys with no effect on the response model.
        defaults: an object with the defaults of the keys that are not A/B settings (a CompareConfig).

    Example:
        >>> reproduce_command(["rules", "cf"], {"visitors": 1000, "alpha": 0.05, "traffic_per_day": 100}, [])
        'xsell-eval abtest rules cf --visitors 1000 --traffic 100'
    """
    import shlex

    parts = ["xsell-eval", "abtest", *arms]
    for key, value in values.items():
        default = ABTestSettings.default(key) if key in ABTestSettings.model_fields else getattr(defaults, key, None)
        if value is None or value is False or key in ignored or (key not in _ALWAYS and value == default):
            continue
        parts += [flag(key)] if value is True else [flag(key), str(value)]
    return shlex.join(parts)


__all__ = ["ABTestSettings", "flag", "parse_split", "reproduce_command"]
