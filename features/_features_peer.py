"""Robust peer z-scores: how far an institution sits from its peers (kind × level) at a date.

``z = (x - median) / max(1.4826 * MAD, floor)``, median and MAD (median absolute deviation) taken
over the institutions active at the date in the same kind × level group that have a value. 1.4826
makes the MAD estimate the standard deviation under normality; the floor (per feature, see
``PeerScale``) stops a group where nearly everyone is at zero from producing infinite scores. A
group with fewer than ``min_peers`` values falls back to the institution's kind alone; when that is
also too small the z-score is missing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._features_catalogue import PeerScale

MAD_TO_SD = 1.4826
MIN_PEERS = 5


def _group_stats(values: pd.DataFrame, keys: pd.Series, active: np.ndarray) -> tuple[pd.DataFrame, ...]:
    """Median, scale-free MAD and count of each column per group, over active rows."""
    present = values[active]
    groups = keys[active]
    median = present.groupby(groups.to_numpy()).median()
    count = present.groupby(groups.to_numpy()).count()
    deviation = (present - median.reindex(groups.to_numpy()).to_numpy()).abs()
    mad = deviation.groupby(groups.to_numpy()).median()
    return median, mad, count


def _per_row(stat: pd.DataFrame, keys: pd.Series, columns: pd.Index) -> np.ndarray:
    return stat.reindex(index=keys.to_numpy(), columns=columns).to_numpy(np.float64)


def robust_z(
    values: pd.DataFrame,
    kind: pd.Series,
    level: pd.Series,
    active: np.ndarray,
    scales: dict[str, PeerScale],
    min_peers: int = MIN_PEERS,
) -> pd.DataFrame:
    """Peer z-scores of every column of ``values`` (one row per institution) against active peers."""
    values = values.astype(np.float64)
    kind = kind.astype(str).reset_index(drop=True)
    level_key = level.astype("Int64").fillna(0).astype(str).reset_index(drop=True)
    fine_key = kind + "|" + level_key
    values = values.reset_index(drop=True)
    out = np.full(values.shape, np.nan)
    chosen_median, chosen_mad = np.full(values.shape, np.nan), np.full(values.shape, np.nan)
    chosen = np.zeros(values.shape, dtype=bool)
    for keys in (fine_key, kind):  # the finest group with enough peers wins
        median, mad, count = _group_stats(values, keys, active)
        enough = _per_row(count, keys, values.columns) >= min_peers
        take = enough & ~chosen
        chosen_median[take] = _per_row(median, keys, values.columns)[take]
        chosen_mad[take] = _per_row(mad, keys, values.columns)[take]
        chosen |= take
    absolute = np.array([scales[c].absolute for c in values.columns])
    relative = np.array([scales[c].relative for c in values.columns])
    scale = np.maximum.reduce(
        [MAD_TO_SD * chosen_mad, np.broadcast_to(absolute, values.shape), relative * np.abs(chosen_median)]
    )
    x = values.to_numpy(np.float64)
    np.divide(x - chosen_median, scale, out=out, where=chosen & np.isfinite(x))
    return pd.DataFrame(out, columns=[f"{c}_pz" for c in values.columns])
