"""Credit evaluation (信用评价): every institution's score, grade and the lines behind them.

:func:`evaluate_credit` applies a :class:`~scoring.policy.CreditPolicy` to the records known on
the evaluation date. Stages, each vectorised over all institutions:

1. gather the typed tables (caller frames or the store); overturned violations are dropped;
2. match every rule to the records dated on or before ``as_of`` and inside the rule's validity
   window (``_credit_rules``);
3. apply decisions: lines of upheld objections are removed, approved repairs lift deductions
   once their waiting period has passed without new events, pending objections are flagged;
4. apply each indicator's cap, then the overall bonus cap, in date order;
5. score = base − deductions + bonuses, clipped to [minimum, scale]; grade by the bands (lower
   bounds inclusive), within peer groups where the policy says so; a veto caps the grade;
6. write each line's sentence in Chinese and English.

Same data, decisions, policy and date give identical output (rows in a fixed order, stable line
ids ``<rule id>:<record key>``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.engine import Engine

from ._credit_data import gather_tables
from ._credit_rules import build_views, match_rules, rule_categories
from ._credit_text import line_texts, render_explanation
from .policy import CreditPolicy, load_policy

__all__ = [
    "INSTITUTION_COLUMNS",
    "LINE_COLUMNS",
    "ApprovedRepair",
    "CreditAdjustments",
    "CreditEvaluation",
    "evaluate_credit",
    "split_line_id",
]

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

INSTITUTION_COLUMNS = (
    "institution_code",
    "subject",
    "score",
    "grade",
    "score_grade",
    "veto",
    "veto_rules",
    "deductions",
    "bonuses",
    "peer_group",
    "line_count",
)
LINE_COLUMNS = (
    "institution_code",
    "subject",
    "line_id",
    "rule_id",
    "kind",
    "points",
    "points_rule",
    "record_table",
    "record_key",
    "record_ids",
    "event_date",
    "base_points",
    "amount_multiplier",
    "source_multiplier",
    "lenient_multiplier",
    "case_source",
    "veto_grade",
    "capped",
    "under_appeal",
    "objection_pending",
    "repair_id",
    "repair_state",
    "repair_effective",
    "text_zh",
    "text_en",
)
_KIND_ORDER = {"veto": 0, "deduction": 1, "bonus": 2}


@dataclass(frozen=True)
class ApprovedRepair:
    repair_id: int
    line_id: str
    approved_on: date


@dataclass(frozen=True)
class CreditAdjustments:
    """Decisions that change lines: upheld objections (removed), pending ones (flagged), repairs.

    An upheld objection corrects an error, so it removes the line from every evaluation whatever
    its date; an approved repair lifts a deduction from its effective date onwards.
    """

    upheld: frozenset[str] = frozenset()
    pending: frozenset[str] = frozenset()
    repairs: tuple[ApprovedRepair, ...] = ()

    @classmethod
    def none(cls) -> CreditAdjustments:
        return cls()


def split_line_id(line_id: str) -> tuple[str, str]:
    """``'v_recovery:V123'`` → ``('v_recovery', 'V123')``."""
    rule_id, sep, key = str(line_id).partition(":")
    if not sep or not rule_id or not key:
        raise ValueError(f"line_id must look like '<rule id>:<record key>'; got {line_id!r}")
    return rule_id, key


@dataclass(frozen=True)
class CreditEvaluation:
    """One evaluation: per-institution results, the lines behind them, the policy and the date."""

    as_of: date
    policy: CreditPolicy
    institutions: pd.DataFrame
    lines: pd.DataFrame
    tables_without_data: tuple[str, ...] = field(default=())

    @property
    def policy_name(self) -> str:
        return self.policy.name

    @property
    def policy_hash(self) -> str:
        return self.policy.sha256

    def distribution(self) -> pd.Series:
        """Institutions per grade, best grade first (every grade listed, zeros included)."""
        counts = self.institutions["grade"].value_counts()
        return counts.reindex(list(self.policy.grade_names), fill_value=0).astype("int64").rename("institutions")

    def lines_of(self, institution_code: str) -> pd.DataFrame:
        """The lines of the credit subject ``institution_code`` belongs to."""
        row = self._row(institution_code)
        return self.lines.loc[self.lines["subject"] == row["subject"]].reset_index(drop=True)

    def explain(self, institution_code: str, lang: str = "zh") -> str:
        return render_explanation(
            self._row(institution_code),
            self.lines_of(institution_code),
            self.policy,
            as_of=self.as_of.isoformat(),
            lang=lang,
        )

    def _row(self, institution_code: str) -> pd.Series:
        rows = self.institutions.loc[self.institutions["institution_code"] == institution_code]
        if rows.empty:
            raise LookupError(f"institution {institution_code!r} is not in this evaluation (as of {self.as_of})")
        return rows.iloc[0]


def evaluate_credit(
    as_of: date | str,
    policy: CreditPolicy | str | Path,
    *,
    engine: Engine | None = None,
    tables: Mapping[str, pd.DataFrame] | None = None,
    adjustments: CreditAdjustments | None = None,
    institutions: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> CreditEvaluation:
    """Grade every institution designated on ``as_of`` under ``policy``.

    as_of: the evaluation date; only records dated on or before it count.
    policy: a :class:`CreditPolicy`, a built-in name ("national-100", "guangdong-1000") or a path.
    engine / tables: where the records come from — the store, or a dict of contract frames.
    adjustments: objections and repairs; by default read from the store when ``engine`` is given
        (none with ``tables``).
    institutions: evaluate only these institution codes (with their credit subjects' other sites).
    """
    as_of = _as_date(as_of)
    policy = load_policy(policy)
    report = progress or (lambda stage, done, total: None)
    if adjustments is None:
        adjustments = _stored_adjustments(engine) if engine is not None and tables is None else CreditAdjustments()
    report("read", 0, 1)
    data, empty = gather_tables(policy, as_of, engine=engine, tables=tables, institutions=institutions)
    report("read", 1, 1)
    sites = _evaluated_institutions(data["institutions"], as_of, policy, institutions)
    views = build_views(data, pd.Index(sites["institution_code"]), policy)
    report("match", 0, 1)
    lines = match_rules(views, policy, as_of)
    report("match", 1, 1)
    lines["subject_id"] = sites["subject_id"].to_numpy()[lines["site"].to_numpy()]
    lines = _apply_adjustments(lines, views, sites, adjustments, policy, as_of)
    lines = _apply_caps(lines, policy)
    results = _score(lines, sites, policy)
    lines = _finish_lines(lines, sites, policy)
    report("text", 1, 1)
    return CreditEvaluation(as_of, policy, results, lines, empty)


def _as_date(value: date | str) -> date:
    try:
        return pd.Timestamp(value).date()
    except (ValueError, TypeError) as error:
        raise ValueError(f"as_of must be a date (YYYY-MM-DD); got {value!r}") from error


def _stored_adjustments(engine: Engine) -> CreditAdjustments:
    from .credit_store import load_adjustments  # the store depends on this module, not the reverse

    return load_adjustments(engine)


def _evaluated_institutions(
    institutions: pd.DataFrame, as_of: date, policy: CreditPolicy, only: Sequence[str] | None
) -> pd.DataFrame:
    """Institutions designated by ``as_of`` in code order, with credit subject (and its number) and peer group."""
    sites = institutions.loc[institutions["designated_since"] <= pd.Timestamp(as_of)]
    sites = sites.sort_values("institution_code", kind="mergesort").reset_index(drop=True)
    codes = sites["institution_code"].astype(str)
    if policy.subject == "credit_code":
        credit = sites["credit_code"].astype(object)
        has_code = credit.notna() & (credit.astype(str).str.strip() != "")
        subject = credit.where(has_code, codes).astype(str)
    else:
        subject = codes
    if only is not None:
        keep = subject.isin(set(subject[codes.isin(set(only))]))
        sites, codes, subject = sites.loc[keep], codes[keep], subject[keep]
    result = pd.DataFrame({"institution_code": codes.to_numpy(dtype=object), "subject": subject.to_numpy(dtype=object)})
    result["subject_id"] = pd.factorize(result["subject"], sort=True)[0]
    if policy.peer_groups is not None:
        parts = [
            sites[c].astype(object).where(sites[c].notna(), "NA").astype(str).to_numpy(dtype=object)
            for c in policy.peer_groups.by
        ]
        group = pd.Series(parts[0])
        for part in parts[1:]:
            group = group + "|" + part
        # A subject's peer group is that of its first site (by code).
        result["peer_group"] = result["subject_id"].map(group.groupby(result["subject_id"]).first())
    else:
        result["peer_group"] = None
    return result


def _line_keys(line_ids: Iterable[str]) -> set[tuple[str, str]]:
    return {split_line_id(i) for i in line_ids}


def _flag_lines(lines: pd.DataFrame, line_ids: Iterable[str]) -> np.ndarray:
    wanted = _line_keys(line_ids)
    flags = np.zeros(len(lines), dtype=bool)
    if not wanted or lines.empty:
        return flags
    idx = np.flatnonzero(lines["record_key"].isin({k for _, k in wanted}).to_numpy(dtype=bool))
    rules = lines["rule_id"].astype(str).to_numpy(dtype=object)[idx]
    records = lines["record_key"].to_numpy(dtype=object)[idx]
    flags[idx] = [(r, k) in wanted for r, k in zip(rules, records, strict=True)]
    return flags


def _apply_adjustments(
    lines: pd.DataFrame,
    views: Mapping,
    sites: pd.DataFrame,
    adjustments: CreditAdjustments,
    policy: CreditPolicy,
    as_of: date,
) -> pd.DataFrame:
    lines = lines.loc[~_flag_lines(lines, adjustments.upheld)].reset_index(drop=True)
    lines["objection_pending"] = _flag_lines(lines, adjustments.pending)
    lines["repair_id"] = pd.array([pd.NA] * len(lines), dtype="Int64")
    lines["repair_state"] = None
    lines["repair_effective"] = pd.Series(pd.NaT, index=lines.index, dtype="datetime64[ns]")
    lines["restored"] = 0.0
    if adjustments.repairs and not lines.empty:
        _apply_repairs(lines, views, sites, adjustments, policy, as_of)
    return lines


def _history(
    views: Mapping,
    sites: pd.DataFrame,
    subject_ids: set[int],
    adjustments: CreditAdjustments,
    policy: CreditPolicy,
    as_of: date,
) -> pd.DataFrame:
    """All deduction and veto events (any age, upheld objections removed) of some subjects."""
    members = np.flatnonzero(sites["subject_id"].isin(subject_ids).to_numpy())
    events = match_rules(views, policy, as_of, windowed=False, sites=members)
    events = events.loc[events["kind"].isin(["deduction", "veto"]).to_numpy()]
    events = events.loc[~_flag_lines(events, adjustments.upheld)]
    events = events.assign(subject_id=sites["subject_id"].to_numpy()[events["site"].to_numpy()])
    return events[["subject_id", "rule_id", "record_key", "event_date"]]


def _apply_repairs(
    lines: pd.DataFrame,
    views: Mapping,
    sites: pd.DataFrame,
    adjustments: CreditAdjustments,
    policy: CreditPolicy,
    as_of: date,
) -> None:
    """Set repair id, state, effective date and restored fraction on repaired lines.

    A repair approved on day A for an event of day d under a rule waiting W months takes effect on
    max(A, d + W months), provided the subject has no other deduction or veto event in
    (d, effective date]; a veto line, or a rule the policy does not list for repair, is never lifted.
    """
    repaired = {}
    for repair in sorted(adjustments.repairs, key=lambda r: r.repair_id):
        rows = np.flatnonzero(_flag_lines(lines, [repair.line_id]))
        if len(rows):
            repaired[int(rows[0])] = repair
    if not repaired:
        return
    history = _history(views, sites, {int(lines.at[r, "subject_id"]) for r in repaired}, adjustments, policy, as_of)
    for row, repair in repaired.items():
        rule_id = str(lines.at[row, "rule_id"])
        lines.loc[row, "repair_id"] = repair.repair_id
        rule = policy.repair_rule(rule_id)
        if rule is None or lines.at[row, "kind"] != "deduction":
            lines.loc[row, "repair_state"] = "not_repairable"
            continue
        event = lines.at[row, "event_date"]
        effective = max(pd.Timestamp(repair.approved_on), event + pd.DateOffset(months=rule.waiting_months))
        lines.loc[row, "repair_effective"] = effective
        same = history["subject_id"] == lines.at[row, "subject_id"]
        itself = (history["rule_id"].astype(str) == rule_id) & (history["record_key"] == lines.at[row, "record_key"])
        newer = same & ~itself & (history["event_date"] > event) & (history["event_date"] <= effective)
        if newer.any():
            lines.loc[row, "repair_state"] = "interrupted"
        elif pd.Timestamp(as_of) < effective:
            lines.loc[row, "repair_state"] = "waiting"
        else:
            lines.loc[row, "repair_state"] = "lifted"
            lines.loc[row, "restored"] = rule.restore


def _capped(points: np.ndarray, groups: list[np.ndarray], caps: np.ndarray) -> np.ndarray:
    """Points after running caps: within each group (rows already in order) the total stops at the cap."""
    frame = pd.DataFrame({f"g{i}": g for i, g in enumerate(groups)})
    frame["points"] = points
    running = frame.groupby([f"g{i}" for i in range(len(groups))], sort=False)["points"].cumsum()
    before = running.to_numpy() - points
    room = np.clip(caps - before, 0.0, None)
    return np.where(np.isnan(caps), points, np.minimum(points, room))


def _apply_caps(lines: pd.DataFrame, policy: CreditPolicy) -> pd.DataFrame:
    """Each indicator's cap, then the overall bonus cap; earlier events use the room first."""
    lines["kind_order"] = lines["kind"].map(_KIND_ORDER).astype("int64")
    lines["rule_order"] = lines["rule_id"].cat.codes.astype("int64")
    lines = lines.sort_values(
        ["subject_id", "kind_order", "event_date", "rule_order", "record_key"], kind="mergesort"
    ).reset_index(drop=True)
    points = np.round(
        lines["points_rule"].to_numpy(dtype=float) * (1.0 - lines["restored"].to_numpy(dtype=float)), policy.decimals
    )
    caps_by_rule = {r.id: (np.nan if r.cap is None else r.cap) for r in policy.indicators}
    caps_by_rule.update({v.id: np.nan for v in policy.vetoes})
    categories = rule_categories(policy).categories
    rule_order = lines["rule_order"].to_numpy()
    caps = np.array([caps_by_rule[r] for r in categories], dtype=float)[rule_order]
    subject = lines["subject_id"].to_numpy()
    after = _capped(points, [subject, rule_order], caps)
    if policy.bonus_cap is not None:
        bonus = (lines["kind"] == "bonus").to_numpy()
        overall = np.where(bonus, policy.bonus_cap, np.nan)
        after = np.where(bonus, _capped(after, [subject, bonus], overall), after)
    after = np.round(after, policy.decimals)
    lines["capped"] = after < points
    lines["points"] = after
    return lines


def _grade_ranks(scores: np.ndarray, groups: np.ndarray | None, policy: CreditPolicy) -> np.ndarray:
    """Rank of each subject's grade by score (0 = best), within peer groups where configured."""
    n = len(scores)
    ranks = np.full(n, len(policy.grades) - 1)
    assigned = np.zeros(n, dtype=bool)
    share = small = None
    if policy.peer_groups is not None and groups is not None and n:
        by_group = pd.Series(scores).groupby(groups)
        order = by_group.rank(method="min", ascending=False).to_numpy()
        size = by_group.transform("size").to_numpy(dtype=float)
        share = order / size
        small = size < policy.peer_groups.min_group_size
    for i, band in enumerate(policy.grades[:-1]):
        ok = scores >= band.min
        if band.top_share is not None and share is not None:
            ok &= (share <= band.top_share) | small
        take = ok & ~assigned
        ranks[take] = i
        assigned |= take
    return ranks


def _score(lines: pd.DataFrame, sites: pd.DataFrame, policy: CreditPolicy) -> pd.DataFrame:
    n_subjects = int(sites["subject_id"].max()) + 1 if len(sites) else 0
    subject = lines["subject_id"].to_numpy()
    points = lines["points"].to_numpy(dtype=float)
    kind = lines["kind"].to_numpy(dtype=object)

    def total(which: str) -> np.ndarray:
        chosen = kind == which
        sums = np.bincount(subject[chosen], weights=points[chosen], minlength=n_subjects).astype(float)
        return np.round(sums, policy.decimals)

    deductions, bonuses = total("deduction"), total("bonus")
    scores = np.round(np.clip(policy.base - deductions + bonuses, policy.minimum, policy.scale), policy.decimals)
    first_site = sites.drop_duplicates("subject_id").sort_values("subject_id")
    groups = first_site["peer_group"].to_numpy(dtype=object) if policy.peer_groups is not None else None
    score_ranks = _grade_ranks(scores, groups, policy)
    vetoes = lines.loc[kind == "veto", ["subject_id", "veto_grade", "rule_id"]]
    veto_rank = np.full(n_subjects, -1)
    np.maximum.at(
        veto_rank, vetoes["subject_id"].to_numpy(), vetoes["veto_grade"].map(policy.grade_rank).to_numpy(dtype=int)
    )
    veto_rules = (
        vetoes.assign(rule_id=vetoes["rule_id"].astype(str))
        .groupby("subject_id")["rule_id"]
        .agg(lambda ids: ";".join(sorted(set(ids))))
    )
    names = np.array(policy.grade_names, dtype=object)
    final = np.maximum(score_ranks, veto_rank)
    per_subject = pd.DataFrame(
        {
            "score": scores,
            "grade": names[final],
            "score_grade": names[score_ranks],
            "veto": veto_rank >= 0,
            "veto_rules": veto_rules.reindex(range(n_subjects), fill_value="").to_numpy(dtype=object),
            "deductions": deductions,
            "bonuses": bonuses,
            "line_count": np.bincount(subject, minlength=n_subjects),
        }
    )
    result = sites[["institution_code", "subject", "subject_id", "peer_group"]].join(per_subject, on="subject_id")
    result["line_count"] = result["line_count"].astype("int64")
    result["peer_group"] = result["peer_group"].astype(object)
    for column in ("institution_code", "subject", "grade", "score_grade", "veto_rules"):
        result[column] = result[column].astype(str)
    return result[list(INSTITUTION_COLUMNS)].reset_index(drop=True)


def _text(values: pa.Array | pa.ChunkedArray) -> pd.api.extensions.ExtensionArray:
    return pd.array(values, dtype="str")


def _finish_lines(lines: pd.DataFrame, sites: pd.DataFrame, policy: CreditPolicy) -> pd.DataFrame:
    site = pa.array(lines["site"].to_numpy())
    lines["institution_code"] = _text(pa.array(sites["institution_code"].to_numpy(dtype=object)).take(site))
    lines["subject"] = _text(pa.array(sites["subject"].to_numpy(dtype=object)).take(site))
    sign = np.where(lines["kind"] == "deduction", -1.0, 1.0)
    lines["points"] = lines["points"] * sign + 0.0  # + 0.0 turns -0.0 into 0.0
    lines["points_rule"] = lines["points_rule"] * sign + 0.0
    text_zh, text_en = line_texts(lines, policy)
    lines["text_zh"] = text_zh
    lines["text_en"] = text_en
    categories = pa.array(list(lines["rule_id"].cat.categories), type=pa.large_string())
    rule_names = categories.take(pa.array(lines["rule_order"].to_numpy()))
    record_keys = pa.array(lines["record_key"].astype("str").array).cast(pa.large_string())
    lines["rule_id"] = _text(rule_names)
    lines["line_id"] = _text(pc.binary_join_element_wise(rule_names, record_keys, pa.scalar(":", pa.large_string())))
    for column in ("kind", "record_table", "record_key", "record_ids"):
        lines[column] = lines[column].astype("str")
    for column in ("veto_grade", "case_source", "repair_state"):
        lines[column] = lines[column].astype(object)
    return lines[list(LINE_COLUMNS)].reset_index(drop=True)
