"""Training time of the risk model on a 50,000-row panel (target: under 60 s on the CI machine).

    python benchmarks/model_train.py [--rows 50000] [--features 380] [--repeat 1]

The panel is ``models.synthetic.synthetic_panel`` widened with noise columns to the width of the
real feature set (about 380 features), so the timing covers what ``medcredit model train`` fits:
the LightGBM classifier, its calibration, the amount model and the scorecard baseline. Feature
building is not included (it is measured by the features benchmarks).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from models.dataset import infer_spec
from models.synthetic import synthetic_panel
from models.training import RiskModel, RiskModelConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--features", type=int, default=380, help="Total feature columns (signals + noise).")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    panel = synthetic_panel(args.rows, n_noise_features=max(0, args.features - 6), years=4, seed=0)
    spec = infer_spec(panel, exclude=["conduct"])
    print(
        f"panel: {len(panel):,} rows × {len(spec.features)} features + {len(spec.nuisance)} nuisance "
        f"(built in {time.perf_counter() - started:.1f} s); cores: {os.cpu_count()}"
    )
    times = []
    for run in range(1, args.repeat + 1):
        started = time.perf_counter()
        model = RiskModel(RiskModelConfig()).fit(panel, spec)
        seconds = time.perf_counter() - started
        times.append(seconds)
        overall = model.metrics_["overall"]
        print(f"run {run}: fit in {seconds:.1f} s (calibration-slice ROC AUC {overall['roc_auc']:.3f})")
    started = time.perf_counter()
    model.score(panel)
    print(f"scoring {len(panel):,} rows: {time.perf_counter() - started:.1f} s")
    best = min(times)
    print(f"training time for {args.rows:,} rows: {best:.1f} s ({'within' if best < 60 else 'OVER'} the 60 s target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
