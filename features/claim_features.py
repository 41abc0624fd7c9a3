"""Claim features: the smart-audit rules of domain.md §5, written once as SQL, run on DuckDB or Spark.

Every rule is a SQL query in DuckDB's dialect over the views ``claims``, ``claim_items`` and the
deaths. DuckDB runs it as written; :mod:`features.spark_engine` transpiles the very same text to
Spark SQL with sqlglot. There is no second, hand-kept copy of any definition: the engines differ only
in how they read Parquet and hold the intermediate tables (DuckDB: temporary tables, dropped once
no later step reads them; Spark: persisted temporary views).

The pipeline, in numbered stages:

1. ``_mc_base`` (a view over the table ``_mc_claims``) — one row per claim settled in the load range,
   with day numbers, the month of settlement, the diagnosis group (first three characters of the
   ICD-10 code) and money in integer cents (sums of cents are exact, so both engines return
   identical figures).
2. ``_mc_flags`` — one row per (claim, rule) that fired, with the *event month*: the month in which
   the bureau could first know it. A rule that pairs two claims (a readmission, an overlapping stay)
   fires when the later of the two has settled; every lookback is bounded by ``context_days`` so a
   claim's flags never depend on claims settled after it, nor on how much older history is loaded.
3. Monthly aggregates per institution (``monthly``): counts and money by settlement month, flags by
   event month, returned to Python.
4. :func:`claim_features_by_month` turns the monthly aggregates into features for any month: sums over
   the 12 closed months before it, the 12 before those (growth), and the slope of the monthly rates
   (trend). This stage is plain numpy, shared by both engines.

Claims enter features when their settlement month has closed: features as of ``t`` use the claims
settled in the twelve calendar months before the month of ``t``, all settled strictly before ``t``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from ._features_catalogue import FeatureSpec, PeerScale
from ._features_windows import month_start, month_starts, safe_ratio
from .claims_store import quiet_duckdb
from .contract import TABLES

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

# --------------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------------

_CODE = re.compile(r"^[A-Z0-9.]{1,8}$")


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}; got {value!r}")


def _check_float(name: str, value: object, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number) or not low <= float(value) <= high:
        raise ValueError(f"{name} must be a number from {low} to {high}; got {value!r}")


def _check_codes(name: str, value: object) -> None:
    if isinstance(value, str) or not all(isinstance(v, str) and _CODE.match(v) for v in value):  # type: ignore[union-attr]
        raise ValueError(f"{name} must be a tuple of ICD-10 prefixes such as ('Z51', 'C'); got {value!r}")


@dataclass(frozen=True)
class ClaimRules:
    """Parameters of the smart-audit rules (domain.md §5); the defaults are the common bureau rules."""

    readmit_days: int = 15  # split admission: readmitted within this many days of discharge (some use 7 or 14)
    planned_cycle_prefixes: tuple[str, ...] = ("Z51", "C")  # chemo/radiotherapy cycles: never a split admission
    exam_heavy_share: float = 0.8  # phantom bed: exam and laboratory fees above this share of the bill
    low_standard_max_days: int = 3  # low-standard admission: stays this short ...
    outpatient_manageable_groups: tuple[str, ...] = (  # ... for diagnoses an outpatient visit could manage
        "J06",
        "J20",
        "K29",
        "K52",
        "M54",
        "I10",
        "E11",
        "L30",
        "H10",
        "R51",
        "N39",
        "K02",
    )
    supply_limit_days: int = 7  # over-prescription: longest days' supply allowed per claim
    chronic_supply_limit_days: int = 28  # ... for chronic-disease (门诊慢特病) long prescriptions
    emergency_supply_limit_days: int = 3  # ... for emergency visits
    supply_lookback_days: int = 90  # cumulative supply: prescriptions looked back at
    supply_tolerance_days: int = 7  # cumulative supply may run this far ahead of the days elapsed
    low_value_yuan: float = 100.0  # fake visits: a visit below this total is "low value"
    frequent_visits: int = 4  # ... and this many low-value visits ...
    frequent_window_days: int = 30  # ... by one patient at one institution within this many days
    group_min_patients: int = 3  # same group on the same days: this many patients present together ...
    group_min_days: int = 2  # ... each pair having been there together on this many days ...
    group_window_days: int = 90  # ... within this many days
    group_max_visitors: int = 100  # days with more low-value visits than this are crowds, not groups
    idle_min_days: int = 2  # phantom bed: whole days of a stay without any billed item (48 h)
    context_days: int = 180  # every lookback is bounded by this many days of settlement

    def __post_init__(self) -> None:
        _check_int("readmit_days", self.readmit_days, 1, 90)
        _check_codes("planned_cycle_prefixes", self.planned_cycle_prefixes)
        _check_float("exam_heavy_share", self.exam_heavy_share, 0.0, 1.0)
        _check_int("low_standard_max_days", self.low_standard_max_days, 0, 30)
        _check_codes("outpatient_manageable_groups", self.outpatient_manageable_groups)
        _check_int("supply_limit_days", self.supply_limit_days, 1, 365)
        _check_int("chronic_supply_limit_days", self.chronic_supply_limit_days, 1, 365)
        _check_int("emergency_supply_limit_days", self.emergency_supply_limit_days, 1, 365)
        _check_int("supply_lookback_days", self.supply_lookback_days, 1, 365)
        _check_int("supply_tolerance_days", self.supply_tolerance_days, 0, 365)
        _check_float("low_value_yuan", self.low_value_yuan, 0.0, 1e6)
        _check_int("frequent_visits", self.frequent_visits, 2, 100)
        _check_int("frequent_window_days", self.frequent_window_days, 1, 365)
        _check_int("group_min_patients", self.group_min_patients, 2, 100)
        _check_int("group_min_days", self.group_min_days, 1, 365)
        _check_int("group_window_days", self.group_window_days, 1, 365)
        _check_int("group_max_visitors", self.group_max_visitors, self.group_min_patients, 10_000)
        _check_int("idle_min_days", self.idle_min_days, 1, 30)
        longest = max(self.readmit_days, self.supply_lookback_days, self.frequent_window_days, self.group_window_days)
        _check_int("context_days", self.context_days, longest, 3660)

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# --------------------------------------------------------------------------------------------------
# The rules
# --------------------------------------------------------------------------------------------------

STAYS, VISITS, DISPENSINGS, CLAIMS, ITEM_CLAIMS, ITEM_STAYS = (
    "stays",
    "visits",
    "dispensings",
    "claims",
    "claims_with_items",
    "stays_with_items",
)
BASE_LABELS = {
    STAYS: ("住院人次", "inpatient stays"),
    VISITS: ("门诊及购药人次", "outpatient, chronic-disease and pharmacy claims"),
    DISPENSINGS: ("带药结算人次", "non-inpatient claims with a days' supply"),
    CLAIMS: ("结算人次", "claims"),
    ITEM_CLAIMS: ("有明细的结算人次", "claims with claim items"),
    ITEM_STAYS: ("有明细的住院人次", "inpatient stays with claim items"),
}
# The base of a rule's share, as an English label says it ("split admissions, share of stays").
BASE_SHORT_EN = {
    STAYS: "stays",
    VISITS: "visits and purchases",
    DISPENSINGS: "dispensings",
    CLAIMS: "claims",
    ITEM_CLAIMS: "itemised claims",
    ITEM_STAYS: "itemised stays",
}


@dataclass(frozen=True)
class Rule:
    """One smart-audit rule: which claims it flags, out of which base, from which tables."""

    name: str
    zh: str
    meaning: str
    base: str
    needs: tuple[str, ...] = ("claims",)
    sql: str = ""  # DuckDB dialect; selects claim_id, institution_code, event_month
    en: str = ""  # a short English name, as ``zh`` is in Chinese


_SPLIT = """
SELECT c.claim_key, c.inst_key, min(greatest(c.settle_month, p.settle_month)) AS event_month
FROM _mc_stays AS c
JOIN _mc_stays AS p
  ON p.patient_key = c.patient_key AND p.inst_key = c.inst_key AND p.dx_group = c.dx_group
WHERE NOT c.is_emergency AND NOT c.is_planned_cycle
  AND c.admit_day - p.discharge_day BETWEEN 0 AND {readmit_days}
  AND (p.admit_day < c.admit_day OR (p.admit_day = c.admit_day AND (p.discharge_day < c.discharge_day
       OR (p.discharge_day = c.discharge_day AND p.claim_key < c.claim_key))))
  AND p.settle_day >= c.settle_day - {context_days}
GROUP BY c.claim_key, c.inst_key
"""

_EXAM_HEAVY = """
SELECT claim_key, inst_key, settle_month AS event_month
FROM _mc_stays
WHERE total_cents > 0 AND exam_cents > {exam_heavy_share} * total_cents
"""

_OVERLAP = """
SELECT c.claim_key, c.inst_key, min(greatest(c.settle_month, p.settle_month)) AS event_month
FROM _mc_stays AS c
JOIN _mc_stays AS p ON p.patient_key = c.patient_key
WHERE p.inst_key <> c.inst_key
  AND p.admit_day < c.discharge_day AND c.admit_day < p.discharge_day
  AND p.settle_day >= c.settle_day - {context_days}
GROUP BY c.claim_key, c.inst_key
"""

# Stays are spread over the weeks they span so that visits are only compared with stays of the same
# patient in the same week (an equality join), not with every stay the patient ever had.
_ELSEWHERE = """
SELECT c.claim_key, c.inst_key, min(greatest(c.settle_month, o.settle_month)) AS event_month
FROM (
  SELECT claim_key, inst_key, patient_key, admit_day, discharge_day, settle_day, settle_month,
    unnest(range(admit_day // 7, discharge_day // 7 + 1)) AS week
  FROM _mc_stays
) AS c
JOIN _mc_base AS o ON o.patient_key = c.patient_key AND o.admit_day // 7 = c.week
WHERE NOT o.is_stay AND o.inst_key <> c.inst_key
  AND o.admit_day > c.admit_day AND o.admit_day < c.discharge_day
  AND o.settle_day >= c.settle_day - {context_days}
GROUP BY c.claim_key, c.inst_key
"""

_IDLE = """
SELECT s.claim_key, s.inst_key, s.settle_month AS event_month
FROM (
  SELECT claim_key, max(item_day - prev_day - 1) AS longest_gap, min(item_day) AS first_day,
         max(item_day) AS last_day
  FROM (
    SELECT claim_key, item_day, lag(item_day) OVER (PARTITION BY claim_key ORDER BY item_day) AS prev_day
    FROM (SELECT DISTINCT claim_key, item_day FROM _mc_items WHERE is_stay) AS d
  ) AS g
  GROUP BY claim_key
) AS t
JOIN _mc_stays AS s ON s.claim_key = t.claim_key
WHERE coalesce(t.longest_gap, 0) >= {idle_min_days}
   OR t.first_day - s.admit_day >= {idle_min_days}
   OR s.discharge_day - t.last_day - 1 >= {idle_min_days}
"""

_LOW_STANDARD = """
SELECT claim_key, inst_key, settle_month AS event_month
FROM _mc_stays
WHERE NOT is_emergency AND discharge_day - admit_day <= {low_standard_max_days}
  AND is_manageable
"""

_LONG_SUPPLY = """
SELECT claim_key, inst_key, settle_month AS event_month
FROM _mc_base
WHERE NOT is_stay AND days_supply > CASE
    WHEN is_emergency THEN {emergency_supply_limit_days}
    WHEN is_chronic THEN {chronic_supply_limit_days}
    ELSE {supply_limit_days}
  END
"""

# Supply running ahead of time: the days' supply dispensed over the lookback (this claim excluded)
# minus the days elapsed since the first of those dispensings. Ordered by settlement day, the frame's
# first row is its earliest day. A course is one patient's prescriptions for one diagnosis group.
_SUPPLY_AHEAD = """
SELECT claim_key, inst_key, {settle_month_of_day} AS event_month
FROM (
  SELECT claim_key, inst_key, settle_day, days_supply,
    CAST(sum(days_supply) OVER course AS BIGINT) AS window_supply,
    first_value(settle_day) OVER course AS first_day
  FROM _mc_base
  WHERE NOT is_stay AND days_supply > 0
  WINDOW course AS (
    PARTITION BY course_key ORDER BY settle_day
    RANGE BETWEEN {supply_lookback_days} PRECEDING AND CURRENT ROW)
) AS s
WHERE window_supply - days_supply - (settle_day - first_day) > {supply_tolerance_days}
"""

_DECEASED = """
SELECT b.claim_key, b.inst_key, b.settle_month AS event_month
FROM _mc_base AS b
JOIN _mc_deaths AS d ON d.patient_key = b.patient_key
WHERE b.admit_day > d.death_day
"""

_DUPLICATE_ITEM = """
SELECT claim_key, inst_key, min(settle_month) AS event_month
FROM (
  SELECT claim_key, inst_key, settle_month,
    count(*) OVER (
      PARTITION BY inst_key, patient_key, item_code, item_day, amount_cents ORDER BY settle_day
      RANGE BETWEEN {context_days} PRECEDING AND CURRENT ROW) AS billed
  FROM _mc_items
) AS d
WHERE billed >= 2
GROUP BY claim_key, inst_key
"""

_TRACE_REUSE = """
SELECT claim_key, inst_key, min(settle_month) AS event_month
FROM (
  SELECT claim_key, inst_key, settle_month,
    count(*) OVER (
      PARTITION BY trace_code ORDER BY settle_day
      RANGE BETWEEN {context_days} PRECEDING AND CURRENT ROW) AS settled
  FROM _mc_items
  WHERE trace_code IS NOT NULL AND trace_code <> ''
) AS t
WHERE settled >= 2
GROUP BY claim_key, inst_key
"""

# A visit can only be the frequent_visits-th (two or more) within frequent_window_days, or count
# towards one that is, if the patient came again within frequent_window_days - 1 days before or after
# it: the others are left out before counting, which changes no count that matters.
_FREQUENT_LOW_VALUE = """
SELECT claim_key, inst_key, settle_month AS event_month
FROM (
  SELECT claim_key, inst_key, settle_month,
    count(*) OVER (
      PARTITION BY visitor_key ORDER BY settle_day
      RANGE BETWEEN {frequent_window_days_minus_one} PRECEDING AND CURRENT ROW) AS recent_visits
  FROM _mc_low
  WHERE previous_day >= settle_day - {frequent_window_days_minus_one}
     OR next_day <= settle_day + {frequent_window_days_minus_one}
) AS f
WHERE recent_visits >= {frequent_visits}
"""

# Fake-visit groups: patients who keep turning up together. Among low-value visits on one day at one
# institution (days with more than group_max_visitors such patients are crowds, not groups), a
# patient is in a group that day when at least group_min_patients - 1 others present had already
# been there together with them on group_min_days days or more within group_window_days
# (``_mc_together`` holds those pairs, by day).
_GROUP_VISIT = """
SELECT l.claim_key, l.inst_key, l.settle_month AS event_month
FROM _mc_low AS l
JOIN (
  SELECT visitor_key, settle_day
  FROM _mc_together
  GROUP BY visitor_key, settle_day
  HAVING count(*) >= {group_min_patients} - 1
) AS g ON g.visitor_key = l.visitor_key AND g.settle_day = l.settle_day
"""

PHANTOM_SIGNALS = ("exam_heavy_stay", "overlap_stay", "elsewhere_during_stay", "idle_stay")

RULES: tuple[Rule, ...] = (
    Rule(
        "split_admission",
        "分解住院",
        "readmission of the same patient at the same institution for the same "
        "diagnosis group within readmit_days of discharge, not an emergency nor a planned chemo/radiotherapy "
        "cycle",
        STAYS,
        sql=_SPLIT,
        en="split admissions",
    ),
    Rule(
        "exam_heavy_stay",
        "检查费占比过高住院",
        "inpatient stays whose exam and laboratory fees exceed exam_heavy_share of the bill (phantom-bed signal)",
        STAYS,
        sql=_EXAM_HEAVY,
        en="exam-heavy stays",
    ),
    Rule(
        "overlap_stay",
        "跨机构重叠住院",
        "inpatient stays overlapping a stay of the same patient at another "
        "institution (phantom-bed signal; same-day transfers do not overlap)",
        STAYS,
        sql=_OVERLAP,
        en="stays overlapping a stay elsewhere",
    ),
    Rule(
        "elsewhere_during_stay",
        "住院期间他处就诊购药",
        "inpatient stays during which the patient settled an "
        "outpatient visit or pharmacy purchase at another institution (phantom-bed signal)",
        STAYS,
        sql=_ELSEWHERE,
        en="stays with claims elsewhere during the stay",
    ),
    Rule(
        "idle_stay",
        "住院无诊疗超48小时",
        "inpatient stays with idle_min_days or more whole days without any billed item (phantom-bed signal)",
        ITEM_STAYS,
        ("claims", "claim_items"),
        sql=_IDLE,
        en="stays with idle days",
    ),
    Rule(
        "phantom_bed_signal",
        "挂床住院信号",
        "inpatient stays with any phantom-bed signal (exam-heavy, overlapping, settlements elsewhere, idle days)",
        STAYS,
        en="stays with a phantom-bed signal",
    ),
    Rule(
        "low_standard_stay",
        "低标准入院",
        "non-emergency stays of at most low_standard_max_days days for a diagnosis an outpatient visit could manage",
        STAYS,
        sql=_LOW_STANDARD,
        en="low-standard admissions",
    ),
    Rule(
        "long_supply",
        "单次超量开药",
        "non-inpatient claims whose days' supply exceeds 7 days (28 for chronic disease, 3 for emergencies)",
        DISPENSINGS,
        sql=_LONG_SUPPLY,
        en="prescriptions over the days' supply limit",
    ),
    Rule(
        "supply_ahead",
        "累计开药超量",
        "non-inpatient claims at which the patient's days' supply for the same "
        "diagnosis group over the last supply_lookback_days runs more than supply_tolerance_days ahead of the "
        "days elapsed (any institution)",
        DISPENSINGS,
        sql=_SUPPLY_AHEAD,
        en="cumulative supply running ahead",
    ),
    Rule(
        "deceased_settlement",
        "死亡人员结算",
        "claims for a visit or purchase that began after the patient's recorded death",
        CLAIMS,
        ("claims", "deaths"),
        sql=_DECEASED,
        en="settlements after the patient's death",
    ),
    Rule(
        "duplicate_item",
        "同日重复收费",
        "claims with an item billed again, for the same amount, for the same "
        "patient at the same institution on the same day",
        ITEM_CLAIMS,
        ("claims", "claim_items"),
        sql=_DUPLICATE_ITEM,
        en="same-day duplicate items",
    ),
    Rule(
        "trace_reuse",
        "追溯码重复结算",
        "claims with a drug trace code already settled (on any claim)",
        ITEM_CLAIMS,
        ("claims", "claim_items"),
        sql=_TRACE_REUSE,
        en="reused drug trace codes",
    ),
    Rule(
        "frequent_low_value",
        "高频低值就诊",
        "low-value visits (below low_value_yuan) that are at least the "
        "frequent_visits-th such visit of the patient at the institution within frequent_window_days",
        VISITS,
        sql=_FREQUENT_LOW_VALUE,
        en="frequent low-value visits",
    ),
    Rule(
        "group_visit",
        "同一人群同日就诊",
        "low-value visits by patients present with at least group_min_patients - 1 "
        "others who had been there together with them on group_min_days or more days within group_window_days "
        "(days with more than group_max_visitors low-value visits excluded)",
        VISITS,
        sql=_GROUP_VISIT,
        en="group visits (same patients, same days)",
    ),
)
RULE_NAMES = tuple(rule.name for rule in RULES)
_RULES_BY_NAME = {rule.name: rule for rule in RULES}


def _sql_strings(values: Sequence[str]) -> str:
    return ", ".join("'" + v + "'" for v in values)  # values are validated against _CODE


def _parameters(rules: ClaimRules) -> dict[str, object]:
    planned = " OR ".join(f"dx_group LIKE '{prefix}%'" for prefix in rules.planned_cycle_prefixes) or "FALSE"
    return {
        **rules.as_dict(),
        "planned_cycle": planned,
        "manageable_groups": _sql_strings(rules.outpatient_manageable_groups) or "''",
        "frequent_window_days_minus_one": rules.frequent_window_days - 1,
        "group_window_days_minus_one": rules.group_window_days - 1,
        "group_min_days_minus_one": rules.group_min_days - 1,
        "low_lookaround_days": max(rules.frequent_window_days, rules.group_window_days) - 1,
        # the month of settle_day, for rows that carry only the day through a window
        "settle_month_of_day": f"CAST(year({_DAY0} + settle_day) * 12 + month({_DAY0} + settle_day) - 1 AS INTEGER)",
        "low_value_visit": f"NOT is_stay AND total_cents < {round(rules.low_value_yuan * 100)}",
    }


# --------------------------------------------------------------------------------------------------
# The SQL plan
# --------------------------------------------------------------------------------------------------

_DAY0 = "DATE '1970-01-01'"

# Keys are 64-bit hashes (DuckDB's hash(), Spark's xxhash64()): joins, windows and groupings on
# integers instead of strings. A collision needs billions of distinct values to become likely.
# Claims are told apart by the hash of claim_id when the leads or the claim items need it; the
# monthly aggregates alone only need to tell stays apart (the rules on visits flag a claim at most
# once each), so there claim_id is not read and the view _mc_base numbers the claims by their row.
_CLAIMS = f"""
SELECT{{claim_key}}
  hash(institution_code) AS inst_key,
  hash(patient_id) AS patient_key,
  hash(hash(patient_id), dx_group) AS course_key,
  visit_type = 'inpatient' AS is_stay,
  visit_type = 'chronic' AS is_chronic,
  CAST(date_diff('day', {_DAY0}, admit_date) AS INTEGER) AS admit_day,
  CAST(date_diff('day', {_DAY0}, coalesce(discharge_date, admit_date)) AS INTEGER) AS discharge_day,
  CAST(date_diff('day', {_DAY0}, settle_date) AS INTEGER) AS settle_day,
  CAST(year(settle_date) * 12 + month(settle_date) - 1 AS INTEGER) AS settle_month,
  dx_group,
  coalesce(emergency, FALSE) AS is_emergency,
  CAST(round(total_amount * 100) AS BIGINT) AS total_cents,
  CAST(round(fund_amount * 100) AS BIGINT) AS fund_cents,
  CAST(round(drug_amount * 100) AS BIGINT) AS drug_cents,
  CAST(round(exam_amount * 100) AS BIGINT) AS exam_cents,
  CAST(days_supply AS BIGINT) AS days_supply
FROM (
  SELECT *, nullif(upper(substr(trim(diagnosis_code), 1, 3)), '') AS dx_group
  FROM claims
  WHERE settle_date >= DATE '{{load_from}}' AND settle_date < DATE '{{load_until}}'
) AS c
"""

_STAYS = """
SELECT claim_key, inst_key, patient_key, dx_group, admit_day, discharge_day, settle_day,
  settle_month, is_emergency, total_cents, exam_cents,
  coalesce({planned_cycle}, FALSE) AS is_planned_cycle,
  coalesce(dx_group IN ({manageable_groups}), FALSE) AS is_manageable
FROM _mc_base
WHERE is_stay
"""

# Low-value visits (below low_value_yuan, not stays) of a patient who came to the institution for
# another one within frequent_window_days - 1 or group_window_days - 1 days before or after, with the
# days of the visits before and after. Only these can be frequent visits or count towards them, and
# only these patients can have been together on two days or more within group_window_days (one sort
# serves both fake-visit rules; the others are left out, which changes no result). A visitor is one
# patient at one institution.
_LOW = """
SELECT {visit_claim_key}, inst_key, visitor_key, settle_day, {settle_month_of_day} AS settle_month,
  previous_day, next_day
FROM (
  SELECT claim_key, inst_key, visitor_key, settle_day,
    lag(settle_day) OVER (PARTITION BY visitor_key ORDER BY settle_day) AS previous_day,
    lead(settle_day) OVER (PARTITION BY visitor_key ORDER BY settle_day) AS next_day
  FROM (
    SELECT claim_key, inst_key, hash(inst_key, patient_key) AS visitor_key, settle_day
    FROM _mc_base
    WHERE {low_value_visit}
  ) AS v
) AS l
WHERE {group_min_days} < 2
  OR previous_day >= settle_day - {low_lookaround_days}
  OR next_day <= settle_day + {low_lookaround_days}
"""

# Patients present on a day who could belong to a group: one row per institution, patient and day
# with low-value visits, on days that are not crowds (group_min_patients to group_max_visitors
# low-value visits at the institution, all of them counted).
_PRESENT = """
SELECT DISTINCT l.inst_key, l.visitor_key, l.settle_day
FROM _mc_low AS l
JOIN (
  SELECT b.inst_key, b.settle_day
  FROM _mc_base AS b
  SEMI JOIN _mc_low AS k ON k.inst_key = b.inst_key AND k.settle_day = b.settle_day
  WHERE {low_value_visit}
  GROUP BY b.inst_key, b.settle_day
  HAVING count(*) BETWEEN {group_min_patients} AND {group_max_visitors}
) AS c ON c.inst_key = l.inst_key AND c.settle_day = l.settle_day
WHERE {group_min_days} < 2
  OR l.previous_day >= l.settle_day - {group_window_days_minus_one}
  OR l.next_day <= l.settle_day + {group_window_days_minus_one}
"""

# Pairs of patients present on the same day at the same institution who had been there together on
# group_min_days days or more within group_window_days up to that day. A pair has one row per day,
# so that is when its (group_min_days - 1)-th previous day together lies within the window.
_TOGETHER = """
SELECT visitor_key, settle_day
FROM (
  SELECT visitor_key, settle_day,
    lag(settle_day, {group_min_days_minus_one}, settle_day - {group_window_days}) OVER (
      PARTITION BY pair_key ORDER BY settle_day) AS earlier_day
  FROM (
    SELECT a.visitor_key, a.settle_day, hash(a.visitor_key, b.visitor_key) AS pair_key
    FROM _mc_present AS a
    JOIN _mc_present AS b ON b.inst_key = a.inst_key AND b.settle_day = a.settle_day AND b.visitor_key <> a.visitor_key
  ) AS p
) AS t
WHERE earlier_day > settle_day - {group_window_days}
"""

_INSTITUTIONS = "SELECT institution_code, hash(institution_code) AS inst_key FROM {codes}"

_DEATHS = f"""
SELECT hash(patient_id) AS patient_key, min(date_diff('day', {_DAY0}, death_date)) AS death_day
FROM {{deaths}}
WHERE death_date IS NOT NULL
GROUP BY hash(patient_id)
"""

_ITEMS = f"""
SELECT b.claim_key, b.inst_key, b.patient_key, b.is_stay, b.settle_day, b.settle_month,
       i.item_code, date_diff('day', {_DAY0}, i.item_date) AS item_day,
       CAST(round(i.amount * 100) AS BIGINT) AS amount_cents, i.trace_code
FROM claim_items AS i
JOIN _mc_base AS b ON b.claim_key = hash(i.claim_id)
"""

# Claims by settlement month, per institution.
_CLAIM_COUNTS = """
    count(*) AS claims,
    CAST(sum(CASE WHEN b.is_stay THEN 1 ELSE 0 END) AS BIGINT) AS stays,
    CAST(sum(CASE WHEN NOT b.is_stay THEN 1 ELSE 0 END) AS BIGINT) AS visits,
    CAST(sum(CASE WHEN NOT b.is_stay AND b.days_supply > 0 THEN 1 ELSE 0 END) AS BIGINT) AS dispensings,
    CAST(sum(b.total_cents) AS BIGINT) AS total_cents,
    CAST(sum(b.fund_cents) AS BIGINT) AS fund_cents,
    CAST(sum(b.drug_cents) AS BIGINT) AS drug_cents,
    CAST(sum(CASE WHEN b.drug_cents IS NOT NULL THEN b.total_cents END) AS BIGINT) AS drug_known_total_cents,
    CAST(sum(b.exam_cents) AS BIGINT) AS exam_cents,
    CAST(sum(CASE WHEN b.exam_cents IS NOT NULL THEN b.total_cents END) AS BIGINT) AS exam_known_total_cents,
    {item_counts}"""

# One row per institution and month for both parts (claims by settlement month; flags by event month,
# one column per rule, phantom beds counted once per stay): one compact result.
_MONTHLY = """
SELECT d.institution_code, coalesce(c.month, f.month) AS month, {columns}
FROM (
  SELECT b.inst_key, b.settle_month AS month, {claim_counts}
  FROM _mc_base AS b
  {item_join}
  WHERE b.settle_month >= {start_month} AND b.settle_month < {end_month}
  GROUP BY b.inst_key, b.settle_month
) AS c
FULL OUTER JOIN (
  SELECT inst_key, event_month AS month, {flag_counts}
  FROM (
    SELECT inst_key, event_month, rule, flagged
    FROM _mc_flags
    UNION ALL
    SELECT min(inst_key) AS inst_key, min(event_month) AS event_month, 'phantom_bed_signal' AS rule,
      CAST(1 AS BIGINT) AS flagged
    FROM _mc_flags
    WHERE rule IN ({phantom_signals})
    GROUP BY claim_key
  ) AS r
  WHERE event_month >= {start_month} AND event_month < {end_month}
  GROUP BY inst_key, event_month
) AS f ON f.inst_key = c.inst_key AND f.month = c.month
JOIN _mc_institutions AS d ON d.inst_key = coalesce(c.inst_key, f.inst_key)
"""


def _monthly_sql(rule_names: Sequence[str], items: bool, start_month: int, end_month: int) -> str:
    """The result step: claim counts and one flag count per rule, by institution and month."""
    flagged = [*rule_names, "phantom_bed_signal"]
    return _MONTHLY.format(
        columns=", ".join(
            [f"coalesce(c.{name}, 0) AS {name}" for name in MONTHLY_COLUMNS]
            + [f"coalesce(f.{name}, 0) AS {name}" for name in flagged]
        ),
        claim_counts=_CLAIM_COUNTS.format(item_counts=_ITEM_COUNTS if items else _NO_ITEM_COUNTS),
        item_join=_ITEM_JOIN if items else "",
        flag_counts=", ".join(
            f"CAST(sum(flagged) FILTER (WHERE rule = '{name}') AS BIGINT) AS {name}" for name in flagged
        ),
        phantom_signals=_sql_strings(PHANTOM_SIGNALS),
        start_month=start_month,
        end_month=end_month,
    )


_ITEM_COUNTS = (
    "count(i.claim_key) AS claims_with_items, "
    "CAST(sum(CASE WHEN b.is_stay AND i.claim_key IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS stays_with_items"
)
_NO_ITEM_COUNTS = "CAST(0 AS BIGINT) AS claims_with_items, CAST(0 AS BIGINT) AS stays_with_items"
_ITEM_JOIN = "LEFT JOIN (SELECT DISTINCT claim_key FROM _mc_items) AS i ON i.claim_key = b.claim_key"

_FLAGGED_CLAIMS = """
SELECT b.claim_id, d.institution_code, f.rule, f.event_month
FROM _mc_flags AS f
JOIN _mc_base AS b ON b.claim_key = f.claim_key
JOIN _mc_institutions AS d ON d.inst_key = f.inst_key
WHERE f.event_month >= {start_month} AND f.event_month < {end_month}
ORDER BY f.rule, b.claim_id
"""

CODES_VIEW = "_mc_institution_codes"
DEATHS_VIEW = "_mc_deaths_input"  # registered by the engine; a caller's own "deaths" is left alone


@dataclass(frozen=True)
class SqlStep:
    """One statement of the plan: ``table`` steps are intermediate tables, ``view`` steps are named
    queries over them (not stored), the last step is the result.

    A table step may list ``parts``: its rows are those of the parts together (``sql`` is their
    UNION ALL), so that an engine can also build it one part at a time.
    """

    name: str
    sql: str
    kind: str = "table"
    parts: tuple[str, ...] = ()


@dataclass(frozen=True)
class MonthRange:
    """Claim months ``start_month <= month < end_month`` (month numbers: ``year * 12 + month - 1``)."""

    start_month: int
    end_month: int

    def __post_init__(self) -> None:
        if self.end_month <= self.start_month:
            raise ValueError(f"end_month must be after start_month; got {self.start_month}..{self.end_month}")


def active_rules(available: set[str]) -> list[Rule]:
    """The rules whose tables are available (``phantom_bed_signal`` is assembled from the others)."""
    return [rule for rule in RULES if rule.sql and set(rule.needs) <= available]


def claim_sql_plan(
    rules: ClaimRules, months: MonthRange, available: set[str], *, flagged_claims: bool = False
) -> list[SqlStep]:
    """The statements, in DuckDB's dialect, that turn claims into monthly aggregates for ``months``.

    ``available`` names the inputs present (``claims`` always; ``claim_items`` and ``deaths`` when
    given); the rules needing a missing input are left out. The inputs are the views ``claims``,
    ``claim_items``, ``_mc_deaths_input`` and ``_mc_institution_codes`` (the institutions to report). With
    ``flagged_claims`` the plan returns the flagged claims themselves instead of monthly aggregates.
    """
    if "claims" not in available:
        raise ValueError(f"claim features need the claims table; available inputs: {sorted(available)}")
    params = _parameters(rules)
    load_from = month_start(months.start_month) - pd.Timedelta(days=rules.context_days)
    bounds = {"start_month": months.start_month, "end_month": months.end_month}
    keyed = flagged_claims or "claim_items" in available
    keys = "claim_key" if keyed else "CAST(NULL AS BIGINT) AS claim_key"  # low-value visits' keys (see _CLAIMS)
    claims = _CLAIMS.format(
        **params,
        claim_key=("\n  hash(claim_id) AS claim_key," if keyed else "") + ("\n  claim_id," if flagged_claims else ""),
        load_from=load_from.date().isoformat(),
        load_until=month_start(months.end_month).date().isoformat(),
    )
    steps = [
        SqlStep("_mc_institutions", _INSTITUTIONS.format(codes=CODES_VIEW)),
        SqlStep("_mc_claims", claims),
        SqlStep(
            "_mc_base", "SELECT * FROM _mc_claims" if keyed else "SELECT rowid AS claim_key, * FROM _mc_claims", "view"
        ),
        SqlStep("_mc_stays", _STAYS.format(**params)),
        SqlStep("_mc_low", _LOW.format(**params, visit_claim_key=keys)),
        SqlStep("_mc_present", _PRESENT.format(**params)),
        SqlStep("_mc_together", _TOGETHER.format(**params)),
    ]
    if "deaths" in available:
        steps.append(SqlStep("_mc_deaths", _DEATHS.format(deaths=DEATHS_VIEW)))
    if "claim_items" in available:
        steps.append(SqlStep("_mc_items", _ITEMS))
    # One row per flagged claim (``flagged`` = 1). Without claim keys (see _CLAIMS) only the phantom-bed
    # signals keep theirs (a stay is counted once whatever the number of signals); the other rules
    # are counted by institution and month at once, and their windows need not carry keys.
    flags = tuple(
        f"SELECT claim_key, inst_key, '{rule.name}' AS rule, event_month, CAST(1 AS BIGINT) AS flagged "
        f"FROM ({rule.sql.format(**params)}) AS r"
        if keyed or rule.name in PHANTOM_SIGNALS
        else f"SELECT CAST(NULL AS BIGINT) AS claim_key, inst_key, '{rule.name}' AS rule, event_month, "
        f"count(*) AS flagged FROM ({rule.sql.format(**params)}) AS r GROUP BY inst_key, event_month"
        for rule in active_rules(available)
    )
    steps.append(SqlStep("_mc_flags", "\nUNION ALL\n".join(flags), parts=flags))
    if flagged_claims:
        steps.append(SqlStep("flagged_claims", _FLAGGED_CLAIMS.format(**bounds), "result"))
        return steps
    rule_names = [rule.name for rule in active_rules(available)]
    monthly = _monthly_sql(rule_names, "claim_items" in available, months.start_month, months.end_month)
    steps.append(SqlStep("monthly", monthly, "result"))
    return steps


# --------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------

ClaimsInput = Sequence[str | Path] | pd.DataFrame | pa.Table | duckdb.DuckDBPyConnection | duckdb.DuckDBPyRelation


@dataclass
class ClaimSource:
    """Where the claims come from: Parquet paths, frames, or a DuckDB connection with a ``claims`` view.

    ``claim_items`` is optional (paths or a frame; with a connection, its ``claim_items`` view when it
    has rows); ``deaths`` is the deaths table as a frame. ``institution_codes`` are the institutions to
    report (default: those found in the claims). ``duckdb_config`` holds settings for a connection
    this module opens (``memory_limit``, ``threads``, ``temp_directory``, ...).
    """

    claims: ClaimsInput | None
    claim_items: Sequence[str | Path] | pd.DataFrame | pa.Table | None = None
    deaths: pd.DataFrame | None = None
    duckdb_config: Mapping[str, object] = field(default_factory=dict)
    institution_codes: Sequence[str] | None = None

    def has_claims(self) -> bool:
        return _has_rows(self.claims, "claims")

    def has_items(self) -> bool:
        if isinstance(self.claims, duckdb.DuckDBPyConnection) and self.claim_items is None:
            return _has_rows(self.claims, "claim_items")
        return _has_rows(self.claim_items, "claim_items")

    def has_deaths(self) -> bool:
        return self.deaths is not None and len(self.deaths) > 0

    def available(self) -> set[str]:
        """The inputs present: ``claims`` (else nothing), and ``claim_items`` and ``deaths`` when given."""
        if not self.has_claims():
            return set()
        return (
            {"claims"} | ({"claim_items"} if self.has_items() else set()) | ({"deaths"} if self.has_deaths() else set())
        )

    def codes_table(self) -> pa.Table | None:
        if self.institution_codes is None:
            return None
        return pa.table({"institution_code": pa.array([str(c) for c in self.institution_codes], pa.string())})


def _has_rows(value: object, table: str) -> bool:
    if value is None:
        return False
    if isinstance(value, pd.DataFrame | pa.Table):
        return len(value) > 0
    if isinstance(value, duckdb.DuckDBPyRelation):
        return True  # a relation is streamed once; counting it would consume it
    if isinstance(value, duckdb.DuckDBPyConnection):
        names = {
            row[0]
            for row in value.execute(
                "SELECT table_name FROM duckdb_tables() UNION ALL SELECT view_name FROM duckdb_views()"
            ).fetchall()
        }
        return table in names and len(value.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchall()) > 0
    return len(list(value)) > 0  # type: ignore[arg-type]


_ARROW_TYPES = {
    "text": pa.string(),
    "code": pa.string(),
    "list": pa.string(),
    "int": pa.int64(),
    "money": pa.float64(),
    "number": pa.float64(),
    "date": pa.date32(),
    "bool": pa.bool_(),
}


def contract_arrow(frame: pd.DataFrame | pa.Table, table: str) -> pa.Table:
    """A frame as an Arrow table with the contract's columns and types (absent optional columns null)."""
    if isinstance(frame, pa.Table):
        frame = frame.to_pandas()
    columns = {}
    for column in TABLES[table].columns:
        kind = _ARROW_TYPES[column.type]
        if column.name not in frame.columns:
            columns[column.name] = pa.nulls(len(frame), type=kind)
            continue
        values = frame[column.name]
        if column.type == "date":
            dates = pd.to_datetime(values)
            columns[column.name] = pa.array(dates.dt.date.where(dates.notna(), None), type=kind)
        elif column.type in ("text", "code", "list"):
            columns[column.name] = pa.array(values.astype(object).where(values.notna(), None), type=kind)
        else:
            columns[column.name] = pa.array(values, type=kind, from_pandas=True)
    return pa.table(columns)


def parquet_view(paths: Sequence[str | Path]) -> str:
    """A SELECT over Parquet files, columns matched by name across files."""
    listed = ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths)
    return f"SELECT * FROM read_parquet([{listed}], union_by_name = true)"


# --------------------------------------------------------------------------------------------------
# DuckDB
# --------------------------------------------------------------------------------------------------


def _duckdb_connection(source: ClaimSource, available: set[str]) -> tuple[duckdb.DuckDBPyConnection, bool]:
    """A connection with the plan's input views; True when this module opened it."""
    if isinstance(source.claims, duckdb.DuckDBPyConnection):
        con, owned = source.claims, False
    else:
        con, owned = quiet_duckdb(), True
        con.execute("SET preserve_insertion_order = false")  # results are keyed, not ordered
        for key, value in source.duckdb_config.items():
            con.execute(f"SET {key} = ?", [value])
        _register(con, "claims", source.claims)
    if "claim_items" in available and source.claim_items is not None:
        _register(con, "claim_items", source.claim_items)
    if "deaths" in available:
        con.register(DEATHS_VIEW, contract_arrow(source.deaths, "deaths"))  # type: ignore[arg-type]
    codes = source.codes_table()
    if codes is None:
        con.execute(f"CREATE OR REPLACE TEMP VIEW {CODES_VIEW} AS SELECT DISTINCT institution_code FROM claims")
    else:
        con.register(CODES_VIEW, codes)
    return con, owned


def _register(con: duckdb.DuckDBPyConnection, name: str, value: object) -> None:
    if isinstance(value, pd.DataFrame | pa.Table):
        con.register(name, contract_arrow(value, name))
    elif isinstance(value, duckdb.DuckDBPyRelation):  # another connection's query: read it once, into a table
        con.register(f"_mc_{name}_reader", value.to_arrow_reader())
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _mc_{name}_reader")
        con.unregister(f"_mc_{name}_reader")
    else:
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {parquet_view(list(value))}")  # type: ignore[arg-type]


def _last_uses(steps: list[SqlStep]) -> dict[int, list[str]]:
    """For each step, the intermediate tables and views that no later step reads (to drop after it).

    A view reads its tables whenever it is read, so they live as long as the view.
    """
    names = [step.name for step in steps if step.kind != "result"]
    reads: dict[str, set[str]] = {}
    last: dict[str, int] = {}
    for i, step in enumerate(steps):
        direct = {name for name in names if name != step.name and re.search(rf"\b{name}\b", step.sql)}
        used = set(direct).union(*(reads.get(name, set()) for name in direct))
        if step.kind == "view":
            reads[step.name] = used
        for name in used | {step.name}:
            last[name] = i
    out: dict[int, list[str]] = {}
    for name, i in last.items():
        out.setdefault(i, []).append(name)
    return out


def _statement_label(step: SqlStep, part: str) -> str:
    """A step's name, with the rule a part of it computes (``_mc_flags:split_admission``)."""
    rule = re.search(r"'(\w+)' AS rule", part) if step.parts else None
    return f"{step.name}:{rule.group(1)}" if rule else step.name


@contextlib.contextmanager
def _timed(label: str) -> Iterator[None]:
    """Log the wall and CPU time of one statement at DEBUG (``extra={"statement": label}``)."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    elapsed, used = time.perf_counter() - wall, time.process_time() - cpu
    log.debug("claim statement %s: %.3f s, CPU %.3f s", label, elapsed, used, extra={"statement": label})


def run_duckdb(steps: list[SqlStep], source: ClaimSource, available: set[str]) -> pd.DataFrame:
    """Execute the plan on DuckDB, each step into a temporary table (or view); return the result.

    Steps are separate statements so that the optimizer sees the true size of every intermediate
    table when it orders joins; each table is dropped once no later step reads it. Each statement's
    wall and CPU time is logged at DEBUG (with ``extra={"statement": label}``).
    """
    con, owned = _duckdb_connection(source, available)
    created: dict[str, str] = {}  # name -> TABLE or VIEW
    drop_after = _last_uses(steps)

    try:
        result = pd.DataFrame()
        for i, step in enumerate(steps):
            if step.kind == "view":
                con.execute(f"CREATE OR REPLACE TEMP VIEW {step.name} AS {step.sql}")
                created[step.name] = "VIEW"
            elif step.kind == "table":
                # A table of several parts is built one part at a time: each part then has the
                # machine to itself, which is faster than running them side by side in one statement.
                first, *rest = step.parts or (step.sql,)
                with _timed(_statement_label(step, first)):
                    con.execute(f"CREATE OR REPLACE TEMP TABLE {step.name} AS {first}")
                created[step.name] = "TABLE"
                for part in rest:
                    with _timed(_statement_label(step, part)):
                        con.execute(f"INSERT INTO {step.name} {part}")
            else:  # through Arrow: much faster than .df() for millions of strings
                with _timed(step.name):
                    result = con.sql(step.sql).to_arrow_table().to_pandas()
            for name in drop_after.get(i, []):
                if name in created:
                    con.execute(f"DROP {created.pop(name)} IF EXISTS {name}")
        return result
    finally:
        for name, kind in created.items():
            with contextlib.suppress(duckdb.Error):
                con.execute(f"DROP {kind} IF EXISTS {name}")
        for name in (DEATHS_VIEW, CODES_VIEW):
            with contextlib.suppress(duckdb.Error):
                con.unregister(name)
            with contextlib.suppress(duckdb.Error):
                con.execute(f"DROP VIEW IF EXISTS {name}")
        if owned:
            con.close()


# --------------------------------------------------------------------------------------------------
# Monthly aggregates
# --------------------------------------------------------------------------------------------------

MONTHLY_COLUMNS = (
    "claims",
    "stays",
    "visits",
    "dispensings",
    "total_cents",
    "fund_cents",
    "drug_cents",
    "drug_known_total_cents",
    "exam_cents",
    "exam_known_total_cents",
    "claims_with_items",
    "stays_with_items",
)


@dataclass(frozen=True)
class ClaimMonthly:
    """Monthly aggregates per institution: counts and money by settlement month, flags by event month."""

    months: MonthRange
    claims: pd.DataFrame  # institution_code, month, MONTHLY_COLUMNS
    rules: pd.DataFrame  # institution_code, month, rule, flagged
    available: frozenset[str]

    def equals(self, other: ClaimMonthly) -> bool:
        return _canonical(self.claims).equals(_canonical(other.claims)) and _canonical(self.rules).equals(
            _canonical(other.rules)
        )


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in ("institution_code", "month", "rule") if c in frame.columns]
    out = frame.sort_values(keys).reset_index(drop=True)
    for column in out.columns:
        out[column] = (
            out[column].astype("str") if column in ("institution_code", "rule") else out[column].astype(np.int64)
        )
    return out


def _split_monthly(result: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The result step's rows as claims by settlement month and flags (long: one row per rule) by event month."""
    codes = result["institution_code"].astype("str")
    months = result["month"].to_numpy(np.int64)
    has_claims = result["claims"].to_numpy() > 0
    claims = pd.DataFrame({"institution_code": codes[has_claims], "month": months[has_claims]})
    for column in MONTHLY_COLUMNS:
        claims[column] = result[column].to_numpy(np.int64)[has_claims]
    parts = []
    for rule in (c for c in result.columns if c in _RULES_BY_NAME):
        flagged = result[rule].to_numpy(np.int64)
        fired = flagged > 0
        parts.append(
            pd.DataFrame(
                {"institution_code": codes[fired], "month": months[fired], "rule": rule, "flagged": flagged[fired]}
            )
        )
    columns = {"institution_code": "str", "month": np.int64, "rule": "str", "flagged": np.int64}
    rules = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(columns))
    return claims.reset_index(drop=True), rules.astype(columns).reset_index(drop=True)


def monthly_claim_aggregates(
    source: ClaimSource,
    months: MonthRange,
    rules: ClaimRules | None = None,
    *,
    engine_kind: str = "duckdb",
    spark: object | None = None,
) -> ClaimMonthly:
    """Run the claim rules for ``months`` on ``engine_kind`` ('duckdb' or 'spark')."""
    rules = rules or ClaimRules()
    available = source.available()
    steps = claim_sql_plan(rules, months, available)
    claims, flagged = _split_monthly(_run(steps, source, available, engine_kind, spark))
    return ClaimMonthly(months, claims, flagged, frozenset(available))


def flag_claims(
    source: ClaimSource,
    months: MonthRange,
    rules: ClaimRules | None = None,
    *,
    engine_kind: str = "duckdb",
    spark: object | None = None,
) -> pd.DataFrame:
    """The claims each rule flags, by event month: the leads behind the claim features.

    Columns: claim_id, institution_code, rule, event_month (month number) and known_from (the first
    day of the following month, when the flag enters the features).
    """
    rules = rules or ClaimRules()
    available = source.available()
    columns = ["claim_id", "institution_code", "rule", "event_month", "known_from"]
    if not available:
        return pd.DataFrame({c: pd.Series(dtype="str") for c in columns})
    steps = claim_sql_plan(rules, months, available, flagged_claims=True)
    flagged = _run(steps, source, available, engine_kind, spark)
    # sorted by rule and claim_id in SQL (on both engines)
    flagged = flagged.astype({"claim_id": "str", "institution_code": "str", "rule": "str", "event_month": np.int64})
    flagged = flagged.reset_index(drop=True)
    flagged["known_from"] = month_starts(flagged["event_month"].to_numpy(np.int64) + 1)
    return flagged[columns]


def _run(
    steps: list[SqlStep], source: ClaimSource, available: set[str], engine_kind: str, spark: object | None
) -> pd.DataFrame:
    if engine_kind == "duckdb":
        return run_duckdb(steps, source, available)
    if engine_kind == "spark":
        from .spark_engine import run_spark

        return run_spark(steps, source, available, spark)
    raise ValueError(f"engine_kind must be one of ['duckdb', 'spark']; got {engine_kind!r}")


# Features derived from the monthly aggregates. "share" features are ratios of two monthly sums.
WINDOW_MONTHS = 12
TREND_MIN_MONTHS = 6
_RATE_FLOOR = PeerScale(absolute=0.01)
_SHARE_FLOOR = PeerScale(absolute=0.02)
_MONEY_FLOOR = PeerScale(absolute=1.0, relative=0.05)
_GROWTH_FLOOR = PeerScale(absolute=0.05)


@dataclass(frozen=True)
class _Ratio:
    name: str
    zh: str
    meaning: str
    numerator: str
    denominator: str
    scale: float  # numerator units → feature units (cents → yuan)
    peer: PeerScale
    en: str = ""  # short English label
    trend: bool = True


_RATIOS = (
    _Ratio(
        "fund_per_visit",
        "次均统筹基金支付",
        "fund paid per claim (yuan)",
        "fund_cents",
        "claims",
        0.01,
        _MONEY_FLOOR,
        "fund paid per claim",
    ),
    _Ratio(
        "cost_per_visit",
        "次均医疗总费用",
        "total cost per claim (yuan)",
        "total_cents",
        "claims",
        0.01,
        _MONEY_FLOOR,
        "total cost per claim",
    ),
    _Ratio(
        "drug_share",
        "药占比",
        "drug fees / total cost, over claims that report drug fees",
        "drug_cents",
        "drug_known_total_cents",
        1.0,
        _SHARE_FLOOR,
        "drug share of costs",
    ),
    _Ratio(
        "exam_share",
        "检查检验费占比",
        "exam and laboratory fees / total cost, over claims that report them",
        "exam_cents",
        "exam_known_total_cents",
        1.0,
        _SHARE_FLOOR,
        "exam and laboratory share of costs",
    ),
    _Ratio(
        "inpatient_share",
        "住院人次占比",
        "inpatient stays / claims (admissions rate)",
        "stays",
        "claims",
        1.0,
        _SHARE_FLOOR,
        "inpatient stays as a share of claims",
    ),
)


def _claim_family(rule: Rule) -> str:
    if "claim_items" in rule.needs:
        return "claim_items"
    if "deaths" in rule.needs:
        return "claim_deaths"
    return "claims"


def _sources(rule: Rule) -> str:
    return " + ".join(f"{t}" for t in rule.needs) + " (settle_date)"


_WINDOW_TEXT = "the 12 closed calendar months before the month of as_of"
_TREND_TEXT = "monthly, the 12 closed calendar months before the month of as_of"
_MISSING_COUNT = "0 when the institution settled nothing in the window; missing when the table is absent"
_MISSING_RATE = "missing when the base count is 0 or the table is absent"
_MISSING_TREND = f"missing with fewer than {TREND_MIN_MONTHS} months of non-zero base or when the table is absent"


def claim_catalogue() -> list[FeatureSpec]:
    """Catalogue entries of the claim families, in frame order."""
    specs: list[FeatureSpec] = []
    add = specs.append
    src = "claims (settle_date)"
    add(
        FeatureSpec("clm_claims_12m", "近12个月结算人次", "claims settled", "claims", src, _WINDOW_TEXT, _MISSING_COUNT)
    )
    add(
        FeatureSpec(
            "clm_stays_12m", "近12个月住院人次", "inpatient stays settled", "claims", src, _WINDOW_TEXT, _MISSING_COUNT
        )
    )
    add(
        FeatureSpec(
            "clm_fund_12m",
            "近12个月统筹基金支付",
            "fund paid (yuan): the institution's fund income",
            "claims",
            src,
            _WINDOW_TEXT,
            _MISSING_COUNT,
        )
    )
    add(
        FeatureSpec(
            "clm_total_12m",
            "近12个月医疗总费用",
            "total cost of claims (yuan)",
            "claims",
            src,
            _WINDOW_TEXT,
            _MISSING_COUNT,
        )
    )
    for ratio in _RATIOS:
        add(
            FeatureSpec(
                f"clm_{ratio.name}_12m",
                f"近12个月{ratio.zh}",
                ratio.meaning,
                "claims",
                src,
                _WINDOW_TEXT,
                _MISSING_RATE,
                peer=ratio.peer,
                en=ratio.en,
            )
        )
    add(
        FeatureSpec(
            "clm_volume_growth_12m",
            "结算人次同比增长",
            "claims in the window / claims in the 12 months before it - 1",
            "claims",
            src,
            "24 closed months before the month of as_of",
            "missing when the earlier 12 months have no claims",
            peer=_GROWTH_FLOOR,
            en="growth in claims on the 12 months before",
        )
    )
    add(
        FeatureSpec(
            "clm_fund_growth_12m",
            "统筹基金支付同比增长",
            "fund paid in the window / fund paid in the 12 months before it - 1",
            "claims",
            src,
            "24 closed months before the month of as_of",
            "missing when the earlier 12 months have no fund paid",
            peer=_GROWTH_FLOOR,
            en="growth in fund paid on the 12 months before",
        )
    )
    for rule in RULES:
        family, source = _claim_family(rule), _sources(rule)
        if rule.name == "phantom_bed_signal":
            source = "claims (+ claim_items for idle days) (settle_date)"
        base_zh, base_en = BASE_LABELS[rule.base]
        add(
            FeatureSpec(
                f"clm_{rule.name}_n_12m",
                f"近12个月{rule.zh}人次",
                f"{rule.meaning}: count",
                family,
                source,
                _WINDOW_TEXT,
                _MISSING_COUNT,
                en=f"{rule.en} (count)",
            )
        )
        add(
            FeatureSpec(
                f"clm_{rule.name}_rate_12m",
                f"近12个月{rule.zh}占比",
                f"{rule.meaning}: share of {base_en} ({base_zh})",
                family,
                source,
                _WINDOW_TEXT,
                _MISSING_RATE,
                peer=_RATE_FLOOR,
                en=f"{rule.en}, share of {BASE_SHORT_EN[rule.base]}",
            )
        )
    add(
        FeatureSpec(
            "clm_claims_trend",
            "结算人次月度趋势",
            "slope of monthly claims, relative to their mean (change per month)",
            "claims",
            src,
            _TREND_TEXT,
            _MISSING_TREND,
            en="monthly trend in claims",
        )
    )
    for ratio in _RATIOS:
        add(
            FeatureSpec(
                f"clm_{ratio.name}_trend",
                f"{ratio.zh}月度趋势",
                f"slope of the monthly {ratio.name} (units per month)",
                "claims",
                src,
                _TREND_TEXT,
                _MISSING_TREND,
                en=f"monthly trend in {ratio.en}",
            )
        )
    for rule in RULES:
        family, source = _claim_family(rule), _sources(rule)
        add(
            FeatureSpec(
                f"clm_{rule.name}_rate_trend",
                f"{rule.zh}占比月度趋势",
                f"slope of the monthly share {rule.name} / {rule.base} (per month)",
                family,
                source,
                _TREND_TEXT,
                _MISSING_TREND,
                en=f"monthly trend in {rule.en} as a share of {BASE_SHORT_EN[rule.base]}",
            )
        )
    return specs


@dataclass(frozen=True)
class _Dense:
    """Monthly metrics as dense arrays (institution, month) with exclusive cumulative sums."""

    first_month: int
    monthly: dict[str, np.ndarray]  # metric -> (institutions, months)
    cumulative: dict[str, np.ndarray]  # metric -> (institutions, months + 1)

    def window(self, metric: str, start: int, end: int) -> np.ndarray:
        """Per institution, the metric summed over months ``start <= m < end`` (clamped to the data)."""
        cum = self.cumulative[metric]
        hi = np.clip(end - self.first_month, 0, cum.shape[1] - 1)
        lo = np.clip(start - self.first_month, 0, cum.shape[1] - 1)
        return cum[:, hi] - cum[:, lo]

    def slab(self, metric: str, start: int, end: int) -> np.ndarray:
        """Per institution, the monthly values for months ``start <= m < end`` (zeros outside the data)."""
        values = self.monthly[metric]
        out = np.zeros((values.shape[0], end - start), dtype=np.float64)
        lo, hi = max(start, self.first_month), min(end, self.first_month + values.shape[1])
        if hi > lo:
            out[:, lo - start : hi - start] = values[:, lo - self.first_month : hi - self.first_month]
        return out


def _dense(monthly: ClaimMonthly, institutions: pd.Index) -> _Dense:
    first, n_months = monthly.months.start_month, monthly.months.end_month - monthly.months.start_month
    shape = (len(institutions), n_months)

    def cells(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Each row's cell in the (institution, month) grid, for the rows that have one; and which rows."""
        codes, uniques = pd.factorize(frame["institution_code"])
        rows = np.append(institutions.get_indexer(uniques), -1)[codes]  # a missing code (-1) has no row
        cols = frame["month"].to_numpy(np.int64) - first
        known = (rows >= 0) & (cols >= 0) & (cols < n_months)
        return rows[known] * n_months + cols[known], known

    def grid(cell: np.ndarray, values: np.ndarray) -> np.ndarray:
        return np.bincount(cell, weights=values, minlength=shape[0] * shape[1]).reshape(shape)

    names = [*MONTHLY_COLUMNS, *RULE_NAMES]
    grids = np.empty((len(names), *shape), dtype=np.float64)
    cell, known = cells(monthly.claims)
    for k, column in enumerate(MONTHLY_COLUMNS):
        grids[k] = grid(cell, monthly.claims[column].to_numpy(np.float64)[known])
    cell, known = cells(monthly.rules)
    rules, fired_names = pd.factorize(monthly.rules["rule"])
    code = {name: k for k, name in enumerate(fired_names)}
    rules, flagged = rules[known], monthly.rules["flagged"].to_numpy(np.float64)[known]
    for k, rule in enumerate(RULE_NAMES, start=len(MONTHLY_COLUMNS)):
        fired = rules == code.get(rule, -1)
        grids[k] = grid(cell[fired], flagged[fired])
    sums = np.zeros((len(names), shape[0], shape[1] + 1), dtype=np.float64)
    np.cumsum(grids, axis=2, out=sums[:, :, 1:])
    metrics = {name: grids[k] for k, name in enumerate(names)}
    cumulative = {name: sums[k] for k, name in enumerate(names)}
    return _Dense(first, metrics, cumulative)


def _slope(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """OLS slope per row of ``values`` against the month index, over valid months only."""
    x = np.broadcast_to(np.arange(values.shape[1], dtype=np.float64), values.shape)
    w = valid.astype(np.float64)
    y = np.where(valid, values, 0.0)
    n = w.sum(axis=1)
    sx, sy = (w * x).sum(axis=1), (w * y).sum(axis=1)
    sxx, sxy = (w * x * x).sum(axis=1), (w * x * y).sum(axis=1)
    slope = safe_ratio(n * sxy - sx * sy, n * sxx - sx * sx)
    return np.where(n >= TREND_MIN_MONTHS, slope, np.nan)


def _rate_slope(dense: _Dense, numerator: str, denominator: str, start: int, end: int, scale: float) -> np.ndarray:
    num = dense.slab(numerator, start, end)
    den = dense.slab(denominator, start, end)
    return _slope(safe_ratio(num * scale, den), den > 0)


def _features_for_month(dense: _Dense, month: int, available: frozenset[str]) -> dict[str, np.ndarray]:
    lo, prev = month - WINDOW_MONTHS, month - 2 * WINDOW_MONTHS
    w = {m: dense.window(m, lo, month) for m in dense.cumulative}
    out: dict[str, np.ndarray] = {
        "clm_claims_12m": w["claims"],
        "clm_stays_12m": w["stays"],
        "clm_fund_12m": w["fund_cents"] / 100,
        "clm_total_12m": w["total_cents"] / 100,
    }
    for ratio in _RATIOS:
        out[f"clm_{ratio.name}_12m"] = safe_ratio(w[ratio.numerator] * ratio.scale, w[ratio.denominator])
    out["clm_volume_growth_12m"] = safe_ratio(w["claims"], dense.window("claims", prev, lo)) - 1
    out["clm_fund_growth_12m"] = safe_ratio(w["fund_cents"], dense.window("fund_cents", prev, lo)) - 1
    for rule in RULES:
        present = set(rule.needs) <= available
        missing = np.full(len(w["claims"]), np.nan)
        out[f"clm_{rule.name}_n_12m"] = w[rule.name] if present else missing
        out[f"clm_{rule.name}_rate_12m"] = safe_ratio(w[rule.name], w[rule.base]) if present else missing
    claims = dense.slab("claims", lo, month)
    out["clm_claims_trend"] = safe_ratio(_slope(claims, np.ones_like(claims, dtype=bool)), claims.mean(axis=1))
    for ratio in _RATIOS:
        out[f"clm_{ratio.name}_trend"] = _rate_slope(dense, ratio.numerator, ratio.denominator, lo, month, ratio.scale)
    for rule in RULES:
        present = set(rule.needs) <= available
        slope = _rate_slope(dense, rule.name, rule.base, lo, month, 1.0)
        out[f"clm_{rule.name}_rate_trend"] = slope if present else np.full(len(slope), np.nan)
    return out


def claim_features_by_month(monthly: ClaimMonthly, institutions: Sequence[str], months: Sequence[int]) -> pd.DataFrame:
    """Claim features for every institution as of the first day of each of ``months``.

    Indexed by (institution_code, month); columns in catalogue order (without the peer z-scores,
    which depend on the peers active at the exact as_of date).
    """
    institutions = pd.Index(institutions, name="institution_code")
    months = sorted(set(int(m) for m in months))
    for month in months:
        if month - 2 * WINDOW_MONTHS < monthly.months.start_month or month > monthly.months.end_month:
            raise ValueError(
                f"month {month} needs claim aggregates from {month - 2 * WINDOW_MONTHS} to {month}; "
                f"got {monthly.months.start_month} to {monthly.months.end_month}"
            )
    dense = _dense(monthly, institutions)
    names = [spec.name for spec in claim_catalogue()]
    blocks = []
    for month in months:
        block = pd.DataFrame(_features_for_month(dense, month, monthly.available), index=institutions)
        block["month"] = month
        blocks.append(block)
    frame = pd.concat(blocks) if blocks else pd.DataFrame(columns=[*names, "month"])
    return frame.set_index("month", append=True)[names]


def claim_months_needed(as_of_months: Sequence[int]) -> MonthRange:
    """The aggregate months that features as of the first day of ``as_of_months`` read."""
    return MonthRange(min(as_of_months) - 2 * WINDOW_MONTHS, max(as_of_months))


def rule_by_name(name: str) -> Rule:
    try:
        return _RULES_BY_NAME[name]
    except KeyError:
        raise ValueError(f"rule must be one of {list(RULE_NAMES)}; got {name!r}") from None
