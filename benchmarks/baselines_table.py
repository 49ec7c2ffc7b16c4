"""Markdown tables for docs/baselines.md from compare run directories.

    python benchmarks/baselines_table.py RUN_DIR [RUN_DIR ...]

Per run: hit@10 and ndcg@10 [95% CI] overall, hit@10 by the user's number of train baskets
(0 = cold user or guest, 1-2, 3-9, 10+), and fit / recommend seconds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

USER_BUCKETS = ("0", "1-2", "3-9", "10+")


def table(run: Path) -> str:
    s = json.loads((run / "summary.json").read_text())
    est = pd.DataFrame(s["metrics"]) if isinstance(s["metrics"], list) else None
    buckets = pd.DataFrame(s["buckets"])
    user = buckets[(buckets["bucket_type"] == "user history (train baskets)") & (buckets["metric"] == "hit_rate@10")]
    sizes = user.groupby("bucket")["n"].first()
    head = ["adapter", "hit@10 [95% CI]", "ndcg@10"]
    head += [f"hit@10, {b} baskets (n={int(sizes.get(b, 0)):,})" for b in USER_BUCKETS]
    head += ["fit s", "recommend s"]
    rows = []
    for a in s["adapters"]:
        name = a["name"]
        if a["status"] != "ok":
            rows.append([f"`{name}`", a["status"], *[""] * (len(head) - 2)])
            continue
        cells = [f"`{name}`"]
        for m in ("hit_rate@10", "ndcg@10"):
            r = est[(est["adapter"] == name) & (est["metric"] == m)] if est is not None else pd.DataFrame()
            if len(r):
                r0 = r.iloc[0]
                cells.append(
                    f"{r0['mean']:.3f} [{r0['ci_low']:.3f}, {r0['ci_high']:.3f}]"
                    if m == "hit_rate@10"
                    else f"{r0['mean']:.3f}"
                )
            else:
                cells.append(f"{a['aggregates'].get(m, float('nan')):.3f}")
        for b in USER_BUCKETS:
            r = user[(user["adapter"] == name) & (user["bucket"] == b)]
            cells.append(f"{r['mean'].iloc[0]:.3f}" if len(r) else "—")
        cells += [f"{a['fit_seconds']:.1f}", f"{a['recommend_seconds']:.1f}"]
        rows.append(cells)
    order = {r[0]: -float(r[1].split()[0]) if r[1][:1].isdigit() else 1.0 for r in rows}
    rows.sort(key=lambda r: order[r[0]])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return f"{s['n_queries']:,} queries, protocol {s['protocol']}\n\n" + "\n".join(lines)


if __name__ == "__main__":
    for d in sys.argv[1:]:
        print(f"### {d}\n\n{table(Path(d))}\n")
