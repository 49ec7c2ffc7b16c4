"""Tuning speed: trials per minute per adapter on the full Online Retail validation window.

Each adapter gets a fresh Optuna study (seeded TPE, trial 0 = the declared defaults) with
``--trials`` trials; every trial fits on the training period before the validation window
and scores ``--metric`` on all validation queries (basket-completion, 1 item revealed).
Printed per adapter: trials per minute (wall clock of the search, storage overhead
included), median / max trial seconds, the median fit and recommend seconds inside a trial,
and the validation score of the defaults (trial 0, or scored apart when a default lies
outside the search space) and of the best trial.

Timings on a shared machine are pessimistic. The storage is an SQLite file in a temporary
folder (the default kind) unless ``--storage memory``.

Usage::

    python benchmarks/bench_tuning.py                       # cf rules content, 10 trials each
    python benchmarks/bench_tuning.py --adapters cf lightfm --trials 20
    python benchmarks/bench_tuning.py --data PATH --loader online-retail
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import optuna

from xsell_eval.data.loaders import load_dataset
from xsell_eval.pipeline import CompareConfig, prepare, prepare_validation
from xsell_eval.tuning import run_search

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "online_retail" / "online_retail.csv.gz"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--adapters", nargs="+", default=["cf", "rules", "content"])
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--metric", default="ndcg@10")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--loader", default="online-retail")
    ap.add_argument("--storage", choices=("sqlite", "memory"), default="sqlite")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)

    t0 = time.perf_counter()
    ds = load_dataset(args.data, loader=args.loader)
    cfg = CompareConfig(adapters=tuple(args.adapters), data=args.data, loader=args.loader, seed=args.seed)
    prepared = prepare(cfg, dataset=ds)
    validation = prepare_validation(cfg, prepared)
    fit_train, vq = validation
    print(f"data: {ds!r}; loaded and split in {time.perf_counter() - t0:.1f} s")
    print(
        f"search data: fit_train {fit_train.interactions['basket_idx'].nunique():,} baskets, "
        f"{len(vq):,} validation queries; metric {args.metric}; {args.trials} trials per adapter; "
        f"storage {args.storage}"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.adapters:
            storage = (
                optuna.storages.InMemoryStorage() if args.storage == "memory" else f"sqlite:///{Path(tmp) / 'b.db'}"
            )
            t = time.perf_counter()
            out = run_search(
                name,
                cfg,
                prepared=prepared,
                metric=args.metric,
                n_trials=args.trials,
                storage=storage,
                study_name=f"bench-{name}",
                seed=args.seed,
                validation=validation,
            )
            wall = time.perf_counter() - t
            trials = out.study.trials
            done = [x for x in trials if x.state.name in ("COMPLETE", "PRUNED")]
            dur = [x.duration.total_seconds() for x in trials if x.duration is not None]
            fit = [x.user_attrs["seconds"]["fit"] for x in trials if "seconds" in x.user_attrs]
            rec = [x.user_attrs["seconds"]["recommend"] for x in trials if "seconds" in x.user_attrs]
            comp = [x for x in trials if x.state.name == "COMPLETE"]
            default = next((x.value for x in comp if x.user_attrs.get("is_default")), None)
            if default is None:  # defaults outside the search space: scored outside the study
                cls_defaults = {p.name: p.default for p in out.search.cls.hyperparams}
                default = out.search.evaluate({k: cls_defaults[k] for k in out.plan.space})[0]
            best = max((x.value for x in comp), default=float("nan"))
            failed = sum(x.state.name == "FAIL" for x in trials)
            rows.append(
                (
                    name,
                    len(done),
                    failed,
                    60.0 * len(trials) / wall if wall > 0 else float("nan"),
                    statistics.median(dur) if dur else float("nan"),
                    max(dur) if dur else float("nan"),
                    statistics.median(fit) if fit else float("nan"),
                    statistics.median(rec) if rec else float("nan"),
                    default,
                    best,
                    out.pruning.split(" (")[0],
                )
            )
            print(f"  {name}: {len(trials)} trials in {wall:.1f} s", flush=True)
    header = (
        f"{'adapter':<10}{'finished':>9}{'failed':>7}{'trials/min':>11}{'median s':>10}{'max s':>8}"
        f"{'fit s':>8}{'rec s':>8}{'default':>9}{'best':>9}  pruning"
    )
    print()
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r[0]:<10}{r[1]:>9}{r[2]:>7}{r[3]:>11.1f}{r[4]:>10.2f}{r[5]:>8.2f}{r[6]:>8.2f}{r[7]:>8.2f}"
            f"{r[8]:>9.4f}{r[9]:>9.4f}  {r[10]}"
        )
    print(
        "\nfit s / rec s: median seconds of fit and recommend inside a trial; the rest of a trial is "
        "metric computation and storage. Shared machine: pessimistic timings."
    )


if __name__ == "__main__":
    main()
