"""A small real risk model for tests of stored risk scores, the API and the dashboard.

The factories' city has too few inspections to train on, so the model is fitted on a panel of
synthetic inspections over feature columns the store's own snapshot has (chosen at run time, so
that the fixture follows the feature set as it grows): values spread around the institutions' own,
the outcome driven by the first chosen column. It is a real ``RiskModel`` (LightGBM, calibration,
reasons) registered through ``models.save_model``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models import PanelSpec, RiskModel, RiskModelConfig, save_model, snapshot_from_store

SMALL = RiskModelConfig(n_estimators=30, amount_estimators=10, num_leaves=4, min_child_samples=10)
_KEYS = {"institution_code", "as_of", "region_code"}


def feature_columns(snapshot: pd.DataFrame, n: int = 4) -> tuple[str, ...]:
    """Up to ``n`` numeric snapshot columns whose values differ between institutions (violations first)."""
    numeric = [
        c
        for c in snapshot.columns
        if c not in _KEYS and pd.api.types.is_numeric_dtype(snapshot[c]) and not pd.api.types.is_bool_dtype(snapshot[c])
    ]
    varying = [c for c in numeric if snapshot[c].astype("float64").nunique(dropna=True) > 1]
    ordered = sorted(varying, key=lambda c: (not c.startswith("viol_"), varying.index(c)))
    if not ordered:
        raise AssertionError(f"the snapshot has no varying numeric column to train on: {list(snapshot.columns)}")
    return tuple(ordered[:n])


def synthetic_inspections(snapshot: pd.DataFrame, features: tuple[str, ...], n_rows: int = 600, seed: int = 3):
    """Inspections over 2022–2024 with feature values around the snapshot's; the first feature raises the odds."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "institution_code": [f"H{i:011d}" for i in range(n_rows)],
            "as_of": pd.to_datetime("2022-01-01") + pd.to_timedelta(rng.integers(0, 1000, n_rows), unit="D"),
        }
    )
    for column in features:
        values = snapshot[column].astype("float64").fillna(0.0).to_numpy()
        spread = float(np.nanstd(values)) or 1.0
        frame[column] = rng.choice(values, n_rows) + rng.normal(0.0, spread / 2, n_rows)
    driver = frame[features[0]]
    z = (driver - driver.mean()) / (driver.std() or 1.0)
    found = rng.random(n_rows) < 1 / (1 + np.exp(-(-0.8 + 1.5 * z)))
    frame["found_violation"] = found
    frame["amount_found"] = np.where(found, rng.gamma(2.0, 5000.0, n_rows), 0.0)
    return frame


def train_small_model(engine, *, as_of: str = "2025-01-01", activate: bool = True):
    """Fit the small model on columns of the store's snapshot at ``as_of`` and register it;
    returns (model, record)."""
    snapshot = snapshot_from_store(engine, pd.Timestamp(as_of))
    features = feature_columns(snapshot)
    catalogue = [{"name": c, "label_zh": f"指标 {c}", "label_en": f"indicator {c}"} for c in features]
    model = RiskModel(SMALL).fit(
        synthetic_inspections(snapshot, features), PanelSpec(features=features), catalogue=catalogue
    )
    return model, save_model(engine, model, activate=activate, actor="tests")
