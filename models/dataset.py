"""Training rows for the risk model: one per inspection, features as of its date, and its outcome.

The stages:

1. ``inspection_outcomes`` — each inspection with its outcome (violation found, amount found) and
   its conditions (kind, inspectors).
2. ``nuisance_columns`` — the conditions as model inputs: a one-hot of the inspection kind and the
   team's point-in-time detection record. They are used while fitting, so that the model does not
   credit an institution with what a flying inspection or a sharp inspector would have found, and
   are set to neutral values (a random inspection by an average inspector) when scoring.
3. ``build_training_panel`` — the point-in-time feature rows (``features.build``) joined to 1–2.

A panel is a plain DataFrame described by a :class:`PanelSpec`, so that models, evaluation and the
real-data benchmarks work on any table of that shape, whatever the feature builder calls its columns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.contract import CODE_LISTS

__all__ = [
    "AUDIT_COLUMNS",
    "INSPECTION_KINDS",
    "INSPECTOR_PREFIX",
    "KIND_PREFIX",
    "PanelSpec",
    "TrainingData",
    "attach_violation_records",
    "build_training_panel",
    "infer_spec",
    "inspection_outcomes",
    "inspector_history",
    "institution_outcomes",
    "nuisance_columns",
    "snapshot_from_store",
    "training_data_from_store",
]

log = logging.getLogger(__name__)

INSPECTION_KINDS: tuple[str, ...] = tuple(CODE_LISTS["inspection_kind"])
KIND_PREFIX = "inspection_kind__"
INSPECTOR_PREFIX = "inspector__"
# Who an institution is, not how it behaves: kept beside the rows to audit disparities, never fitted.
AUDIT_COLUMNS: tuple[str, ...] = ("kind", "ownership", "region_code")
# Columns of an inspection record: identify or describe the inspection, never the institution's conduct.
_KEY_COLUMNS = (
    "institution_code",
    "as_of",
    "inspection_id",
    "start_date",
    "inspector_codes",
    "draw_id",
    "inclusion_probability",
    "inspection_kind",
)
_LABEL_COLUMNS = ("found_violation", "amount_found", "violation_records")
# Prior weight (in inspections) that shrinks an inspector's detection record towards the average.
INSPECTOR_PRIOR_INSPECTIONS = 20.0


@dataclass(frozen=True)
class PanelSpec:
    """Which columns of a panel play which part.

    ``features`` describe the institution's conduct and context and make up its score;
    ``nuisance`` describe the inspection (kind, inspectors) and are neutralised when scoring;
    ``groups`` are audit attributes (kind, ownership, county) used only to report metrics by group.
    """

    features: tuple[str, ...]
    nuisance: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    entity: str = "institution_code"
    time: str = "as_of"
    label: str = "found_violation"
    amount: str = "amount_found"
    neutral: dict[str, float] = field(default_factory=dict)

    def check(self, panel: pd.DataFrame, *, labelled: bool = True) -> None:
        """Raise ``ValueError`` naming every required column the panel lacks."""
        required = [self.entity, self.time, *self.features]
        if labelled:
            required += [self.label, *self.nuisance]
        missing = [c for c in required if c not in panel.columns]
        if missing:
            raise ValueError(f"panel lacks columns {missing}; it has {sorted(panel.columns)[:40]}")
        overlap = set(self.features) & set(self.nuisance)
        if overlap:
            raise ValueError(f"columns cannot be both features and nuisance: {sorted(overlap)}")


def infer_spec(
    panel: pd.DataFrame,
    *,
    exclude: Sequence[str] = (),
    groups: Sequence[str] = AUDIT_COLUMNS,
    **kwargs,
) -> PanelSpec:
    """A spec taking every column that is not a key, label, audit or nuisance column as a feature."""
    nuisance = tuple(c for c in panel.columns if c.startswith((KIND_PREFIX, INSPECTOR_PREFIX)))
    reserved = {*_KEY_COLUMNS, *_LABEL_COLUMNS, *groups, *nuisance, *exclude, "weight"}
    reserved |= {kwargs.get(name) for name in ("entity", "time", "label", "amount")} - {None}
    features = tuple(c for c in panel.columns if c not in reserved)
    return PanelSpec(
        features=features,
        nuisance=nuisance,
        groups=tuple(g for g in groups if g in panel.columns),
        neutral=neutral_nuisance(nuisance),
        **kwargs,
    )


def neutral_nuisance(nuisance: Sequence[str], *, kind: str = "random") -> dict[str, float]:
    """Neutral values: the given inspection kind, and an inspector of average detection record.

    Inspector columns are relative to the average (0 = average), so the neutral value is 0.
    """
    neutral = {}
    for column in nuisance:
        if column.startswith(KIND_PREFIX):
            neutral[column] = 1.0 if column == KIND_PREFIX + kind else 0.0
        else:
            neutral[column] = 0.0
    return neutral


def inspection_outcomes(inspections: pd.DataFrame) -> pd.DataFrame:
    """One row per inspection: id, institution, date, kind, inspectors, draw and outcome.

    ``amount_found`` is 0 where nothing was found or the amount was not recorded.
    """
    needed = ["inspection_id", "institution_code", "start_date", "kind", "inspector_codes", "found_violation"]
    missing = [c for c in needed if c not in inspections.columns]
    if missing:
        raise ValueError(f"inspections lacks columns {missing}")
    frame = inspections.loc[:, [c for c in [*needed, "amount_found", "draw_id"] if c in inspections.columns]].copy()
    frame["start_date"] = pd.to_datetime(frame["start_date"]).astype("datetime64[ns]")
    frame["found_violation"] = frame["found_violation"].astype("boolean").fillna(False).astype(bool)
    amount = frame["amount_found"] if "amount_found" in frame.columns else pd.Series(0.0, index=frame.index)
    frame["amount_found"] = pd.to_numeric(amount).astype("float64").fillna(0.0).where(frame["found_violation"], 0.0)
    frame["inspector_codes"] = frame["inspector_codes"].astype(object).where(frame["inspector_codes"].notna(), "")
    return frame.sort_values(["start_date", "inspection_id"], kind="stable").reset_index(drop=True)


def institution_outcomes(outcomes: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Per institution inspected in ``[start, end)``: any violation found, total amount, inspections, records.

    ``violation_records`` counts the violation records those inspections produced (the outcomes'
    ``violation_records`` column, see :func:`attach_violation_records`); without it, each inspection
    that found a violation counts as one record.
    """
    window = outcomes[(outcomes["start_date"] >= start) & (outcomes["start_date"] < end)]
    if "violation_records" in window.columns:
        records = window["violation_records"].astype("float64").fillna(0.0)
    else:
        records = window["found_violation"].astype("float64")
    grouped = (
        window.assign(_records=records.where(window["found_violation"], 0.0))
        .groupby("institution_code")
        .agg(
            violating=("found_violation", "max"),
            amount=("amount_found", "sum"),
            inspections=("inspection_id", "size"),
            violation_records=("_records", "sum"),
        )
    )
    grouped["violating"] = grouped["violating"].astype(bool)
    return grouped


def attach_violation_records(outcomes: pd.DataFrame, violations: pd.DataFrame | None) -> pd.DataFrame:
    """``outcomes`` with ``violation_records``: the violation records (not overturned) each inspection produced.

    An inspection that found a violation but has no linked record counts as one record (the finding
    itself), so the count never says less than the inspection does.
    """
    found = outcomes["found_violation"].astype(bool)
    counts = np.zeros(len(outcomes))
    if violations is not None and "inspection_id" in violations.columns:
        kept = violations
        if "status" in violations.columns:
            kept = violations[violations["status"].astype(object) != "overturned"]
        per_inspection = kept.dropna(subset=["inspection_id"]).groupby("inspection_id").size()
        counts = outcomes["inspection_id"].map(per_inspection).astype("float64").fillna(0.0).to_numpy()
    records = np.where(found, np.maximum(counts, 1.0), 0.0)
    return outcomes.assign(violation_records=records)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def _prior_sums(frame: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Per ``by`` group and date: count and sum of ``value`` over strictly earlier dates."""
    daily = frame.groupby([*by, "start_date"], sort=True)[value].agg(["size", "sum"]).reset_index()
    grouped = daily.groupby(by, sort=False) if by else daily
    daily["prior_n"] = grouped["size"].cumsum() - daily["size"]
    daily["prior_sum"] = grouped["sum"].cumsum() - daily["sum"]
    return daily[[*by, "start_date", "prior_n", "prior_sum"]]


def inspector_history(
    outcomes: pd.DataFrame, *, prior_inspections: float = INSPECTOR_PRIOR_INSPECTIONS
) -> pd.DataFrame:
    """Each inspection team's detection record before the inspection date (point in time).

    For every inspector: the violations found in their earlier inspections minus what an average
    team would have found in inspections of the same kinds (the kind's own earlier hit rate), shrunk
    towards zero by ``prior_inspections``; the team's value is its members' mean, on the log-odds
    scale relative to the kind's rate. Also the team's mean experience (log of earlier inspections).
    Columns: ``inspection_id``, ``inspector__detection``, ``inspector__experience``.
    """
    frame = outcomes[["inspection_id", "start_date", "kind", "inspector_codes", "found_violation"]].copy()
    frame["y"] = frame["found_violation"].astype("float64")
    kind_prior = _prior_sums(frame, ["kind"], "y")
    overall = _prior_sums(frame, [], "y")
    overall_rate = (overall["prior_sum"] + 1.0) / (overall["prior_n"] + 2.0)
    overall = overall.assign(overall_rate=overall_rate)[["start_date", "overall_rate"]]
    frame = frame.merge(kind_prior, on=["kind", "start_date"], how="left").merge(overall, on="start_date", how="left")
    # The kind's earlier rate, itself shrunk towards the overall rate while the kind is new.
    frame["expected"] = (frame["prior_sum"] + 10.0 * frame["overall_rate"]) / (frame["prior_n"] + 10.0)
    frame["excess"] = frame["y"] - frame["expected"]
    members = frame.assign(inspector=frame["inspector_codes"].str.split(r"[;；]")).explode("inspector")
    members["inspector"] = members["inspector"].astype(str).str.strip()
    members = members[members["inspector"] != ""]
    record = _prior_sums(members, ["inspector"], "excess")
    members = members.drop(columns=["prior_n", "prior_sum"]).merge(record, on=["inspector", "start_date"], how="left")
    shrunk_excess = members["prior_sum"] / (members["prior_n"] + prior_inspections)
    base = members["expected"].to_numpy()
    members["detection"] = _logit(base + shrunk_excess.to_numpy()) - _logit(base)
    members["experience"] = np.log1p(members["prior_n"].astype("float64"))
    team = members.groupby("inspection_id").agg(
        **{
            INSPECTOR_PREFIX + "detection": ("detection", "mean"),
            INSPECTOR_PREFIX + "experience": ("experience", "mean"),
        }
    )
    result = frame[["inspection_id"]].merge(team, left_on="inspection_id", right_index=True, how="left")
    return result.fillna({INSPECTOR_PREFIX + "detection": 0.0, INSPECTOR_PREFIX + "experience": 0.0})


def nuisance_columns(outcomes: pd.DataFrame, *, with_inspectors: bool = True) -> pd.DataFrame:
    """The inspection's conditions as numeric columns, indexed like ``outcomes``.

    One ``inspection_kind__<kind>`` column per contract kind, and (``with_inspectors``) the team's
    detection record from :func:`inspector_history`.
    """
    unknown = sorted(set(outcomes["kind"].dropna()) - set(INSPECTION_KINDS))
    if unknown:
        raise ValueError(f"inspection kind must be one of {list(INSPECTION_KINDS)}; got {unknown}")
    columns = pd.DataFrame(
        {KIND_PREFIX + kind: (outcomes["kind"] == kind).astype("float64") for kind in INSPECTION_KINDS},
        index=outcomes.index,
    )
    if with_inspectors:
        history = inspector_history(outcomes).set_index("inspection_id")
        columns = columns.join(history.reindex(outcomes["inspection_id"]).set_axis(outcomes.index))
    return columns


FeatureBuilder = Callable[[pd.DataFrame], pd.DataFrame]


def build_training_panel(
    outcomes: pd.DataFrame,
    feature_rows: FeatureBuilder,
    *,
    institutions: pd.DataFrame | None = None,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    with_inspectors: bool = True,
) -> pd.DataFrame:
    """Join point-in-time features at each inspection date to the inspection's outcome and conditions.

    ``feature_rows(pairs)`` receives a frame of ``institution_code`` and ``as_of`` (the inspection
    dates) and returns feature rows with the same two columns. The inspectors' records are computed
    on every inspection in ``outcomes`` (so that a window starting at ``start`` still knows what came
    before); the rows returned are the inspections in ``[start, end)``. ``institutions`` adds the
    audit columns (kind, ownership, region_code). One row per inspection.
    """
    rows = pd.concat([outcomes, nuisance_columns(outcomes, with_inspectors=with_inspectors)], axis=1)
    rows = rows.rename(columns={"kind": "inspection_kind"})
    rows["as_of"] = rows["start_date"]
    if start is not None:
        rows = rows[rows["as_of"] >= start]
    if end is not None:
        rows = rows[rows["as_of"] < end]
    pairs = rows[["institution_code", "as_of"]].drop_duplicates().reset_index(drop=True)
    log.info("building features for %d (institution, date) pairs", len(pairs))
    features = feature_rows(pairs)
    if institutions is not None:
        features = features.drop(columns=[c for c in AUDIT_COLUMNS if c in features.columns])
    panel = rows.merge(features, on=["institution_code", "as_of"], how="inner", validate="many_to_one")
    if len(panel) < len(rows):
        log.warning("%d inspections had no feature row and were left out", len(rows) - len(panel))
    if institutions is not None:
        audit = institutions.loc[:, ["institution_code", *[c for c in AUDIT_COLUMNS if c in institutions.columns]]]
        panel = panel.merge(audit, on="institution_code", how="left", validate="many_to_one")
    return panel.sort_values(["as_of", "inspection_id"], kind="stable").reset_index(drop=True)


@dataclass
class TrainingData:
    """A training panel with its spec, every inspection's outcome and the feature catalogue."""

    panel: pd.DataFrame
    spec: PanelSpec
    outcomes: pd.DataFrame
    catalogue: pd.DataFrame | None
    missing_families: list = field(default_factory=list)


def _institutions(engine, tables: Mapping[str, pd.DataFrame] | None) -> pd.DataFrame:
    from features.storage import load_table

    return tables["institutions"] if tables and "institutions" in tables else load_table(engine, "institutions")


def _violations(engine, tables: Mapping[str, pd.DataFrame] | None) -> pd.DataFrame | None:
    """The violations table, or None where there is none to read."""
    from features.storage import load_table

    if tables is not None:
        return tables.get("violations")
    try:
        return load_table(engine, "violations", columns=["inspection_id", "status"])
    except (KeyError, ValueError) as error:
        log.info("no violation records to count (%s); counting inspections that found one", error)
        return None


def training_data_from_store(
    engine=None,
    *,
    tables: Mapping[str, pd.DataFrame] | None = None,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    exclude: Sequence[str] = (),
    conduct: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
    **feature_options,
) -> TrainingData:
    """Training rows from the store (or contract ``tables``) with ``features.build`` point-in-time features.

    ``conduct`` (default) re-expresses the catalogue's raw volumes as conduct rates with one size
    control (:func:`models.conduct.conduct_features`); score with :func:`snapshot_from_store` and the
    same setting. ``exclude`` names feature columns to leave out; ``feature_options`` go to
    ``features.build.build_feature_panel`` (e.g. ``readmit_days``). The outcomes carry
    ``violation_records`` (records per inspection) when the violations table is available.
    """
    from features.build import build_feature_panel
    from features.storage import load_table

    from .conduct import conduct_catalogue, conduct_features

    inspections = tables["inspections"] if tables and "inspections" in tables else load_table(engine, "inspections")
    institutions = _institutions(engine, tables)
    outcomes = attach_violation_records(inspection_outcomes(inspections), _violations(engine, tables))
    built: dict[str, object] = {}

    def feature_rows(pairs: pd.DataFrame) -> pd.DataFrame:
        result = build_feature_panel(pairs, engine=engine, tables=tables, progress=progress, **feature_options)
        catalogue = conduct_catalogue(result.catalogue) if conduct else result.catalogue
        built["catalogue"], built["missing"] = catalogue, result.missing_families
        frame = result.frame.reset_index()
        return conduct_features(frame, keep=AUDIT_COLUMNS) if conduct else frame

    panel = build_training_panel(outcomes, feature_rows, institutions=institutions, start=start, end=end)
    spec = infer_spec(panel, exclude=exclude)
    return TrainingData(panel, spec, outcomes, built.get("catalogue"), list(built.get("missing", [])))


def snapshot_from_store(
    engine=None,
    as_of: pd.Timestamp | str | None = None,
    *,
    tables: Mapping[str, pd.DataFrame] | None = None,
    conduct: bool = True,
    **feature_options,
) -> pd.DataFrame:
    """Features of every institution active at ``as_of`` (one row each), with ``as_of`` and audit columns.

    ``conduct`` must match the setting the model was trained with (:func:`training_data_from_store`).
    """
    from features.build import build_features

    from .conduct import conduct_features

    if as_of is None:
        raise ValueError("as_of must be a date such as '2025-01-01'; got None")
    result = build_features(as_of, engine=engine, tables=tables, **feature_options)
    frame = result.frame.reset_index()
    frame.insert(1, "as_of", pd.Timestamp(as_of).normalize())
    institutions = _institutions(engine, tables)
    if "region_code" in institutions.columns and "region_code" not in frame.columns:
        frame = frame.merge(institutions[["institution_code", "region_code"]], on="institution_code", how="left")
    return conduct_features(frame, keep=AUDIT_COLUMNS) if conduct else frame
