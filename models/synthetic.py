"""A small panel of known structure, for tests, the training benchmark and examples.

Not a simulation of a city (that is ``features.simulate``): a direct draw of feature rows whose
relation to the outcome is known, so that a test can tell whether the model learned conduct and
ignored the inspection's conditions. Each institution has a latent conduct ``c``; its features are
noisy signals of ``c`` plus pure noise; an inspection finds a violation with log-odds
``-1.2 + 1.3 c + kind effect + inspector skill``, and the amount found grows with ``c``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .dataset import INSPECTION_KINDS, INSPECTOR_PREFIX, KIND_PREFIX

__all__ = ["KIND_EFFECT", "synthetic_panel"]

KIND_EFFECT = {
    "routine": -0.6,
    "random": -0.3,
    "targeted": 0.6,
    "special": 0.2,
    "flying": 1.2,
    "cross": 0.0,
    "complaint": 0.4,
}
_KIND_SHARE = {
    "routine": 0.6,
    "random": 0.08,
    "targeted": 0.12,
    "special": 0.08,
    "flying": 0.04,
    "cross": 0.03,
    "complaint": 0.05,
}


def synthetic_panel(
    n_rows: int = 2000,
    *,
    n_institutions: int | None = None,
    n_noise_features: int = 4,
    years: int = 3,
    start_year: int = 2022,
    seed: int = 0,
) -> pd.DataFrame:
    """Inspection rows with features, nuisance columns, outcome, amount and audit columns.

    Also returns the latent ``conduct`` column (the truth a test may compare with; never a feature).
    """
    rng = np.random.default_rng(seed)
    n_inst = n_institutions or max(20, n_rows // 3)
    conduct = rng.normal(0, 1, n_inst)
    kinds = np.array(["hospital", "clinic", "pharmacy"])[rng.integers(0, 3, n_inst)]
    ownership = np.where(rng.random(n_inst) < 0.4, "public", "private")
    region = np.array(["441502", "441521", "441581"])[rng.integers(0, 3, n_inst)]
    codes = np.array([f"H441500{i:05d}" for i in range(n_inst)], dtype=object)

    inst = rng.integers(0, n_inst, n_rows)
    c = conduct[inst]
    start = np.datetime64(f"{start_year}-01-01")
    days = np.sort(rng.integers(0, 365 * years, n_rows))
    kind_names = np.array(list(_KIND_SHARE))
    kind = rng.choice(kind_names, size=n_rows, p=np.array(list(_KIND_SHARE.values())))
    skill = rng.normal(0, 0.5, n_rows)
    frame = pd.DataFrame(
        {
            "institution_code": codes[inst],
            "as_of": (start + days.astype("timedelta64[D]")).astype("datetime64[ns]"),
            "inspection_id": [f"I{i:07d}" for i in range(n_rows)],
            "violations_12m": rng.poisson(np.exp(0.2 + 0.7 * c)).astype("float64"),
            "amount_violations_12m": np.round(rng.lognormal(8 + 0.6 * c, 1.0) * (rng.random(n_rows) < 0.6), 2),
            "complaints_substantiated_12m": rng.poisson(np.exp(-1.5 + 0.8 * c)).astype("float64"),
            "readmission_share": np.clip(rng.normal(0.02 + 0.02 * c, 0.02), 0, 1),
            "days_since_last_violation": np.where(
                rng.random(n_rows) < 0.3, np.nan, rng.exponential(200 * np.exp(-0.5 * c))
            ),
            "inst_kind": pd.Series(kinds[inst], dtype="str"),
        }
    )
    noise = pd.DataFrame(
        rng.normal(0, 1, (n_rows, n_noise_features)), columns=[f"noise_{k}" for k in range(n_noise_features)]
    )
    kinds = pd.DataFrame({KIND_PREFIX + name: (kind == name).astype("float64") for name in INSPECTION_KINDS})
    frame = pd.concat([frame, noise, kinds], axis=1)
    frame[INSPECTOR_PREFIX + "detection"] = skill + rng.normal(0, 0.2, n_rows)
    effect = np.array([KIND_EFFECT[k] for k in kind])
    logit = -1.2 + 1.3 * c + effect + skill
    found = rng.random(n_rows) < 1 / (1 + np.exp(-logit))
    frame["found_violation"] = found
    frame["amount_found"] = np.where(found, np.round(rng.lognormal(9 + 0.5 * c, 0.8), 2), 0.0)
    frame["inspection_kind"] = pd.Series(kind, dtype="str")
    frame["kind"] = frame["inst_kind"]
    frame["ownership"] = pd.Series(ownership[inst], dtype="str")
    frame["region_code"] = pd.Series(region[inst], dtype="str")
    frame["conduct"] = c
    return frame
