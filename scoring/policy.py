"""Credit-evaluation policies (信用评价办法) as data files, validated when loaded.

A policy is a YAML mapping; ``docs/credit-policy.md`` documents every key and both built-in
policies. In short::

    name: national-100            # lower-case letters, digits, '-', '_', '.'
    title: {zh: ..., en: ...}
    version: "2025.1"
    subject: institution          # or credit_code: sites sharing a credit code are one subject
    scale: 100                    # the maximum score
    base: 100                     # the score of an institution without any line
    minimum: 0                    # the lowest score
    decimals: 2                   # line points and scores are rounded to this many decimals
    grades:                       # best first; lower bounds inclusive; the last grade has no min
      - {grade: A, min: 90}
      - {grade: B, min: 80}
      - {grade: C, min: 65}
      - {grade: D}
    bonus_cap: 5                  # total bonus points, across bonus indicators (null: no cap)
    objection_window_days: 15
    indicators:                   # deduction and bonus rules
      - id: interview
        kind: deduction           # or bonus
        name: {zh: 约谈, en: interview}
        table: violations         # violations, complaints, referrals, self_inspections,
                                  # staff_points, staff_cycles, institutions
        date: [decision_date, found_date]   # event date: first non-empty (default per table)
        filters: {disposition: [interview], fraud: false}
        points: 1                 # per event, before multipliers
        amount_bands: [{min: 0, multiplier: 1}, {min: 10000, multiplier: 1.2}]
        source_multipliers: {flying_inspection: 1.2, self_inspection: 0.5}
        lenient_factor: 0.5
        cap: 5                    # this indicator's points per subject (null: no cap)
        window_months: 12
    vetoes:
      - {id: fraud, name: {...}, table: violations, filters: {fraud: true}, grade: D, window_months: 12}
    peer_groups: {by: [kind, level], min_group_size: 5}    # optional
    repair:
      - {indicators: [interview], waiting_months: 3, restore: 1.0}

A bad file raises :class:`PolicyError` listing every problem, each naming the key, the value
received and what is allowed.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from ._credit_sources import SOURCE_TABLES, SourceTable

__all__ = [
    "BUILTIN_POLICIES",
    "AmountBand",
    "CreditPolicy",
    "GradeBand",
    "Indicator",
    "PeerGroups",
    "PolicyError",
    "RecordFilter",
    "RepairRule",
    "Selector",
    "Veto",
    "builtin_policies",
    "load_policy",
]

POLICY_DIR = Path(__file__).parent / "policies"
BUILTIN_POLICIES: tuple[str, ...] = ("national-100", "guangdong-1000")

SUBJECTS = ("institution", "credit_code")
KINDS = ("deduction", "bonus")
# Peer groups compare like with like (hospital tier, pharmacy); ownership and region are not
# allowed, so that they cannot drive a grade (conduct, not identity: domain.md §8).
PEER_GROUP_COLUMNS = ("kind", "level")

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_GRADE_RE = re.compile(r"^[A-Z][+-]?$")

_TOP_KEYS = {
    "required": ("name", "title", "scale", "base", "grades", "indicators"),
    "optional": (
        "version",
        "description",
        "subject",
        "minimum",
        "decimals",
        "bonus_cap",
        "vetoes",
        "peer_groups",
        "repair",
        "objection_window_days",
    ),
}
_INDICATOR_KEYS = {
    "required": ("id", "kind", "name", "table", "points"),
    "optional": (
        "date",
        "filters",
        "amount_column",
        "amount_bands",
        "source_multipliers",
        "lenient_factor",
        "cap",
        "window_months",
    ),
}
_VETO_KEYS = {"required": ("id", "name", "table", "grade"), "optional": ("date", "filters", "window_months")}


class PolicyError(ValueError):
    """A policy file that cannot be used; ``problems`` lists every problem found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        listing = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid credit policy {source} ({len(self.problems)} problem(s)):\n{listing}")


@dataclass(frozen=True)
class GradeBand:
    """A grade: scores from ``min`` (inclusive) up to the next better grade's ``min``.

    ``top_share`` (with peer groups only): the grade also requires a rank within the best
    ``top_share`` of the peer group.
    """

    grade: str
    min: float | None
    top_share: float | None = None


@dataclass(frozen=True)
class RecordFilter:
    """A test on one column: membership in ``values``, or ``minimum <= x < maximum``."""

    column: str
    values: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None

    def to_mapping(self) -> Any:
        if self.values is not None:
            if len(self.values) == 1 and isinstance(self.values[0], bool):
                return self.values[0]
            return list(self.values)
        bounds = {}
        if self.minimum is not None:
            bounds["min"] = self.minimum
        if self.maximum is not None:
            bounds["max"] = self.maximum
        return bounds


@dataclass(frozen=True)
class Selector:
    table: str
    date: tuple[str, ...]
    filters: tuple[RecordFilter, ...]

    @property
    def source(self) -> SourceTable:
        return SOURCE_TABLES[self.table]


@dataclass(frozen=True)
class AmountBand:
    min: float
    multiplier: float


@dataclass(frozen=True)
class Indicator:
    id: str
    kind: str
    name_zh: str
    name_en: str
    selector: Selector
    points: float
    amount_column: str | None
    amount_bands: tuple[AmountBand, ...]
    source_multipliers: tuple[tuple[str, float], ...]
    lenient_factor: float
    cap: float | None
    window_months: int


@dataclass(frozen=True)
class Veto:
    id: str
    name_zh: str
    name_en: str
    selector: Selector
    grade: str
    window_months: int


@dataclass(frozen=True)
class RepairRule:
    indicators: tuple[str, ...]
    waiting_months: int
    restore: float


@dataclass(frozen=True)
class PeerGroups:
    by: tuple[str, ...]
    min_group_size: int


@dataclass(frozen=True)
class CreditPolicy:
    """A validated credit policy. Build with :meth:`from_mapping` or :func:`load_policy`."""

    name: str
    title_zh: str
    title_en: str
    version: str
    description: str
    subject: str
    scale: float
    base: float
    minimum: float
    decimals: int
    grades: tuple[GradeBand, ...]
    bonus_cap: float | None
    objection_window_days: int
    indicators: tuple[Indicator, ...]
    vetoes: tuple[Veto, ...]
    peer_groups: PeerGroups | None
    repair: tuple[RepairRule, ...]

    @classmethod
    def from_mapping(cls, data: Any, *, source: str = "<mapping>") -> CreditPolicy:
        """Validate ``data`` (a parsed YAML mapping); raise :class:`PolicyError` listing all problems."""
        check = _Check()
        policy = _build_policy(check, data)
        if check.problems or policy is None:
            raise PolicyError(source, check.problems or ["the policy is empty"])
        return policy

    @classmethod
    def from_json(cls, text: str, *, source: str = "<stored policy>") -> CreditPolicy:
        return cls.from_mapping(json.loads(text), source=source)

    def to_mapping(self) -> dict[str, Any]:
        """The policy as plain data, every default filled in (what the hash covers)."""
        return _policy_mapping(self)

    def canonical_json(self) -> str:
        return json.dumps(self.to_mapping(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    @cached_property
    def sha256(self) -> str:
        """SHA-256 of the canonical JSON: two files meaning the same policy have the same hash."""
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    @property
    def grade_names(self) -> tuple[str, ...]:
        return tuple(band.grade for band in self.grades)

    def grade_rank(self, grade: str) -> int:
        """0 for the best grade, rising towards the worst."""
        return self.grade_names.index(grade)

    def rule(self, rule_id: str) -> Indicator | Veto:
        for rule in (*self.indicators, *self.vetoes):
            if rule.id == rule_id:
                return rule
        raise KeyError(f"policy {self.name!r} has no rule {rule_id!r}")

    def repair_rule(self, indicator_id: str) -> RepairRule | None:
        """The repair rule covering a deduction indicator, or None when it is not repairable."""
        for rule in self.repair:
            if indicator_id in rule.indicators:
                return rule
        return None

    def tables(self) -> set[str]:
        """The source tables the policy's rules select from."""
        return {rule.selector.table for rule in (*self.indicators, *self.vetoes)}


def builtin_policies() -> tuple[str, ...]:
    return BUILTIN_POLICIES


def load_policy(policy: CreditPolicy | str | Path) -> CreditPolicy:
    """A policy from a :class:`CreditPolicy`, a built-in name or a path to a YAML file."""
    if isinstance(policy, CreditPolicy):
        return policy
    if isinstance(policy, str) and policy in BUILTIN_POLICIES:
        return _builtin(policy)
    path = Path(policy)
    if path.suffix.lower() not in (".yaml", ".yml") or not path.is_file():
        raise ValueError(
            f"policy must be a built-in name {list(BUILTIN_POLICIES)} or the path of a YAML file; got {policy!r}"
        )
    return _read_policy_file(path)


@functools.lru_cache(maxsize=len(BUILTIN_POLICIES))
def _builtin(name: str) -> CreditPolicy:
    # Built-in files ship with the package and do not change while it runs; policies are immutable.
    return _read_policy_file(POLICY_DIR / f"{name}.yaml")


def _read_policy_file(path: Path) -> CreditPolicy:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: much faster
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except yaml.YAMLError as error:
        raise PolicyError(str(path), [f"not valid YAML: {error}"]) from error
    return CreditPolicy.from_mapping(data, source=str(path))


# --------------------------------------------------------------------------------------------
# validation


class _Check:
    """Collects problems while reading a mapping, so that all of them are reported together."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, value: Any, allowed: str) -> None:
        self.problems.append(f"{path}: got {value!r}; {allowed}")

    def mapping(self, value: Any, path: str, keys: Mapping[str, tuple[str, ...]]) -> dict | None:
        if not isinstance(value, Mapping):
            self.fail(path, value, "expected a mapping")
            return None
        allowed = (*keys["required"], *keys["optional"])
        for key in value:
            # Top-level keys starting with "_" only hold YAML anchors merged elsewhere (<<: *anchor).
            anchor_holder = path == "" and isinstance(key, str) and key.startswith("_")
            if key not in allowed and not anchor_holder:
                self.fail(f"{path}.{key}" if path else str(key), key, f"unknown key; allowed keys: {list(allowed)}")
        for key in keys["required"]:
            if key not in value:
                self.fail(f"{path}.{key}" if path else key, None, "required key missing")
        return dict(value)

    def number(
        self,
        value: Any,
        path: str,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        above: float | None = None,
        integer: bool = False,
    ) -> float | None:
        kind = "an integer" if integer else "a number"
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if ok and integer and float(value) != int(value):
            ok = False
        limits = []
        if minimum is not None:
            limits.append(f">= {minimum:g}")
            ok = ok and value >= minimum
        if above is not None:
            limits.append(f"> {above:g}")
            ok = ok and value > above
        if maximum is not None:
            limits.append(f"<= {maximum:g}")
            ok = ok and value <= maximum
        if not ok:
            self.fail(path, value, f"expected {kind}" + (" " + " and ".join(limits) if limits else ""))
            return None
        return int(value) if integer else float(value)

    def text(self, value: Any, path: str, pattern: re.Pattern | None = None, hint: str = "") -> str | None:
        if not isinstance(value, str) or not value.strip() or (pattern is not None and not pattern.match(value)):
            self.fail(path, value, f"expected {hint or 'a non-empty string'}")
            return None
        return value

    def choice(self, value: Any, path: str, allowed: tuple[str, ...] | list[str]) -> str | None:
        if value not in allowed:
            self.fail(path, value, f"allowed: {list(allowed)}")
            return None
        return value

    def labels(self, value: Any, path: str) -> tuple[str, str]:
        data = self.mapping(value, path, {"required": ("zh", "en"), "optional": ()})
        if data is None:
            return "", ""
        return (self.text(data.get("zh"), f"{path}.zh") or "", self.text(data.get("en"), f"{path}.en") or "")


def _build_policy(check: _Check, data: Any) -> CreditPolicy | None:
    top = check.mapping(data, "", _TOP_KEYS)
    if top is None:
        return None
    name = check.text(top.get("name"), "name", _NAME_RE, "lower-case letters, digits, '-', '_' or '.'")
    title_zh, title_en = check.labels(top.get("title"), "title")
    scale = check.number(top.get("scale"), "scale", above=0)
    minimum = check.number(top.get("minimum", 0), "minimum", minimum=0)
    base = check.number(top.get("base"), "base", minimum=minimum or 0, maximum=scale)
    decimals = check.number(top.get("decimals", 2), "decimals", minimum=0, maximum=4, integer=True)
    subject = check.choice(top.get("subject", "institution"), "subject", SUBJECTS)
    peer_groups = _peer_groups(check, top.get("peer_groups"))
    grades = _grades(check, top.get("grades"), scale, minimum, peer_groups is not None)
    grade_names = tuple(g.grade for g in grades)
    indicators = _rules(check, top.get("indicators"), "indicators", _indicator)
    vetoes = _rules(check, top.get("vetoes", []), "vetoes", lambda c, v, p: _veto(c, v, p, grade_names))
    _check_unique_ids(check, indicators, vetoes)
    repair = _repair(check, top.get("repair", []), indicators)
    bonus_cap = None if top.get("bonus_cap") is None else check.number(top["bonus_cap"], "bonus_cap", minimum=0)
    window = check.number(top.get("objection_window_days", 15), "objection_window_days", minimum=1, integer=True)
    version = str(top.get("version", ""))
    description = str(top.get("description", ""))
    if check.problems:
        return None
    return CreditPolicy(
        name=name, title_zh=title_zh, title_en=title_en, version=version, description=description,
        subject=subject, scale=scale, base=base, minimum=minimum, decimals=decimals, grades=grades,
        bonus_cap=bonus_cap, objection_window_days=window, indicators=indicators, vetoes=vetoes,
        peer_groups=peer_groups, repair=repair,
    )  # fmt: skip


def _grades(check: _Check, value: Any, scale: float | None, minimum: float | None, peer: bool) -> tuple:
    if not isinstance(value, list) or len(value) < 2:
        check.fail("grades", value, "expected a list of at least 2 grades, best first")
        return ()
    bands: list[GradeBand] = []
    keys = {"required": ("grade",), "optional": ("min", "top_share", "name")}
    for i, item in enumerate(value):
        path = f"grades[{i}]"
        data = check.mapping(item, path, keys)
        if data is None:
            continue
        grade = check.text(data.get("grade"), f"{path}.grade", _GRADE_RE, "a grade letter such as 'A', 'A+' or 'B-'")
        last = i == len(value) - 1
        lower = data.get("min")
        if last and lower is not None:
            check.fail(f"{path}.min", lower, "the last grade takes every lower score; give it no min")
        elif not last:
            lower = check.number(lower, f"{path}.min", minimum=minimum, maximum=scale)
        share = data.get("top_share")
        if share is not None:
            if not peer:
                check.fail(f"{path}.top_share", share, "top_share needs peer_groups")
            share = check.number(share, f"{path}.top_share", above=0, maximum=1)
        if "name" in data:
            check.labels(data["name"], f"{path}.name")
        bands.append(GradeBand(grade or "?", lower, share))
    names = [b.grade for b in bands]
    if len(set(names)) != len(names):
        check.fail("grades", names, "grade names must be unique")
    mins = [b.min for b in bands[:-1]]
    if all(m is not None for m in mins) and any(a <= b for a, b in itertools.pairwise(mins)):
        check.fail("grades", mins, "each grade's min must be below the min of the grade before it (best first)")
    return tuple(bands)


def _rules(check: _Check, value: Any, path: str, build) -> tuple:
    if not isinstance(value, list):
        check.fail(path, value, "expected a list")
        return ()
    rules = (build(check, item, f"{path}[{i}]") for i, item in enumerate(value))
    return tuple(rule for rule in rules if rule is not None)


def _selector(check: _Check, data: dict, path: str) -> Selector | None:
    table = check.choice(data.get("table"), f"{path}.table", list(SOURCE_TABLES))
    if table is None:
        return None
    source = SOURCE_TABLES[table]
    dates = data.get("date", list(source.dates))
    dates = [dates] if isinstance(dates, str) else dates
    if not isinstance(dates, list) or not dates or any(d not in source.date_columns() for d in dates):
        check.fail(f"{path}.date", data.get("date"), f"date columns of {table}: {source.date_columns()}")
        dates = list(source.dates)
    filters = _filters(check, data.get("filters", {}), f"{path}.filters", source)
    return Selector(table, tuple(dates), filters)


def _filters(check: _Check, value: Any, path: str, source: SourceTable) -> tuple[RecordFilter, ...]:
    if not isinstance(value, Mapping):
        check.fail(path, value, "expected a mapping of column to value(s)")
        return ()
    filters = []
    for column, wanted in value.items():
        if column not in source.filterable:
            check.fail(
                f"{path}.{column}", column, f"columns of {source.name} a filter may test: {list(source.filterable)}"
            )
            continue
        record_filter = _filter(check, source.columns[column], wanted, f"{path}.{column}", source.name)
        if record_filter is not None:
            filters.append(record_filter)
    return tuple(sorted(filters, key=lambda f: f.column))


def _filter(check: _Check, column, wanted: Any, path: str, table: str) -> RecordFilter | None:
    if column.type == "bool":
        if not isinstance(wanted, bool):
            check.fail(path, wanted, "expected true or false")
            return None
        return RecordFilter(column.name, (wanted,))
    if column.type in ("int", "money", "number") and isinstance(wanted, Mapping):
        unknown = set(wanted) - {"min", "max"}
        if unknown or not wanted:
            check.fail(path, dict(wanted), "a range takes min (inclusive) and/or max (exclusive)")
            return None
        low = check.number(wanted["min"], f"{path}.min") if "min" in wanted else None
        high = check.number(wanted["max"], f"{path}.max") if "max" in wanted else None
        if low is not None and high is not None and high <= low:
            check.fail(path, dict(wanted), "max must be above min")
        return RecordFilter(column.name, minimum=low, maximum=high)
    values = wanted if isinstance(wanted, list) else [wanted]
    if not values:
        check.fail(path, wanted, "expected at least one value")
        return None
    if column.type == "code":
        allowed = list(column.codes)
        if table == "violations" and column.name == "status":
            # Overturned violations never count, whatever the policy says.
            allowed.remove("overturned")
        bad = [v for v in values if v not in allowed]
        if bad:
            check.fail(path, bad if len(bad) > 1 else bad[0], f"allowed: {allowed}")
            return None
        return RecordFilter(column.name, tuple(sorted(set(values))))
    if column.type == "text":
        if any(not isinstance(v, str) for v in values):
            check.fail(path, wanted, "expected text values")
            return None
        return RecordFilter(column.name, tuple(sorted(set(values))))
    numbers = [check.number(v, path) for v in values]
    if any(n is None for n in numbers):
        return None
    return RecordFilter(column.name, tuple(sorted(set(numbers))))


def _indicator(check: _Check, value: Any, path: str) -> Indicator | None:
    data = check.mapping(value, path, _INDICATOR_KEYS)
    if data is None:
        return None
    rule_id = check.text(data.get("id"), f"{path}.id", _ID_RE, "an id of lower-case letters, digits and '_'")
    kind = check.choice(data.get("kind"), f"{path}.kind", KINDS)
    name_zh, name_en = check.labels(data.get("name"), f"{path}.name")
    selector = _selector(check, data, path)
    points = check.number(data.get("points"), f"{path}.points", above=0)
    source = selector.source if selector else None
    amount_column, bands = _amount_bands(check, data, path, source)
    multipliers = _source_multipliers(check, data.get("source_multipliers"), f"{path}.source_multipliers", source)
    lenient = data.get("lenient_factor")
    if lenient is not None and source is not None and "lenient" not in source.columns:
        check.fail(f"{path}.lenient_factor", lenient, f"table {source.name} has no lenient column")
    lenient = 1.0 if lenient is None else check.number(lenient, f"{path}.lenient_factor", minimum=0, maximum=1)
    cap = None if data.get("cap") is None else check.number(data["cap"], f"{path}.cap", above=0)
    window = check.number(data.get("window_months", 12), f"{path}.window_months", minimum=1, integer=True)
    if None in (rule_id, kind, selector, points, lenient, window) or (data.get("cap") is not None and cap is None):
        return None
    return Indicator(
        rule_id, kind, name_zh, name_en, selector, points, amount_column, bands, multipliers, lenient, cap, window
    )


def _amount_bands(check: _Check, data: dict, path: str, source: SourceTable | None):
    bands_value = data.get("amount_bands")
    column = data.get("amount_column", source.amount if source else None)
    if bands_value is None:
        if "amount_column" in data:
            check.fail(f"{path}.amount_column", column, "amount_column needs amount_bands")
        return None, ()
    if source is None:
        return None, ()
    if column not in source.money_columns():
        check.fail(f"{path}.amount_column", column, f"money columns of {source.name}: {source.money_columns()}")
        return None, ()
    if not isinstance(bands_value, list) or not bands_value:
        check.fail(f"{path}.amount_bands", bands_value, "expected a list of {min, multiplier}, lowest first")
        return column, ()
    bands = []
    for i, item in enumerate(bands_value):
        band_path = f"{path}.amount_bands[{i}]"
        band = check.mapping(item, band_path, {"required": ("min", "multiplier"), "optional": ()})
        if band is None:
            continue
        low = check.number(band.get("min"), f"{band_path}.min", minimum=0)
        factor = check.number(band.get("multiplier"), f"{band_path}.multiplier", minimum=0)
        if low is not None and factor is not None:
            bands.append(AmountBand(low, factor))
    mins = [b.min for b in bands]
    if bands and (mins[0] != 0 or any(a >= b for a, b in itertools.pairwise(mins))):
        check.fail(f"{path}.amount_bands", mins, "band mins must start at 0 and rise strictly")
    return column, tuple(bands)


def _source_multipliers(check: _Check, value: Any, path: str, source: SourceTable | None) -> tuple:
    if value is None:
        return ()
    if source is None:
        return ()
    if "source" not in source.columns:
        check.fail(path, value, f"table {source.name} has no source column")
        return ()
    if not isinstance(value, Mapping) or not value:
        check.fail(path, value, "expected a mapping of case source to multiplier")
        return ()
    allowed = source.columns["source"].codes
    result = []
    for code, factor in value.items():
        if code not in allowed:
            check.fail(f"{path}.{code}", code, f"allowed: {list(allowed)}")
            continue
        number = check.number(factor, f"{path}.{code}", minimum=0)
        if number is not None:
            result.append((code, number))
    return tuple(sorted(result))


def _veto(check: _Check, value: Any, path: str, grades: tuple[str, ...]) -> Veto | None:
    data = check.mapping(value, path, _VETO_KEYS)
    if data is None:
        return None
    rule_id = check.text(data.get("id"), f"{path}.id", _ID_RE, "an id of lower-case letters, digits and '_'")
    name_zh, name_en = check.labels(data.get("name"), f"{path}.name")
    selector = _selector(check, data, path)
    grade = check.choice(data.get("grade"), f"{path}.grade", grades) if grades else None
    window = check.number(data.get("window_months", 12), f"{path}.window_months", minimum=1, integer=True)
    if None in (rule_id, selector, grade, window):
        return None
    return Veto(rule_id, name_zh, name_en, selector, grade, window)


def _check_unique_ids(check: _Check, indicators: tuple, vetoes: tuple) -> None:
    seen: set[str] = set()
    for rule in (*indicators, *vetoes):
        if rule.id in seen:
            check.fail("indicators/vetoes", rule.id, "rule ids must be unique across indicators and vetoes")
        seen.add(rule.id)


def _repair(check: _Check, value: Any, indicators: tuple[Indicator, ...]) -> tuple[RepairRule, ...]:
    if not isinstance(value, list):
        check.fail("repair", value, "expected a list of repair rules")
        return ()
    deductions = [i.id for i in indicators if i.kind == "deduction"]
    covered: set[str] = set()
    rules = []
    keys = {"required": ("indicators", "waiting_months"), "optional": ("restore",)}
    for i, item in enumerate(value):
        path = f"repair[{i}]"
        data = check.mapping(item, path, keys)
        if data is None:
            continue
        ids = data.get("indicators")
        if not isinstance(ids, list) or not ids:
            check.fail(f"{path}.indicators", ids, "expected a list of deduction indicator ids")
            continue
        for rule_id in ids:
            if rule_id not in deductions:
                check.fail(f"{path}.indicators", rule_id, f"repairable rules are deduction indicators: {deductions}")
            elif rule_id in covered:
                check.fail(f"{path}.indicators", rule_id, "an indicator may appear in one repair rule only")
            covered.add(rule_id)
        waiting = check.number(data.get("waiting_months"), f"{path}.waiting_months", minimum=0, integer=True)
        restore = check.number(data.get("restore", 1.0), f"{path}.restore", above=0, maximum=1)
        if waiting is not None and restore is not None:
            rules.append(RepairRule(tuple(ids), waiting, restore))
    return tuple(rules)


def _peer_groups(check: _Check, value: Any) -> PeerGroups | None:
    if value is None:
        return None
    data = check.mapping(value, "peer_groups", {"required": ("by",), "optional": ("min_group_size",)})
    if data is None:
        return None
    by = data.get("by")
    by = [by] if isinstance(by, str) else by
    if not isinstance(by, list) or not by or any(c not in PEER_GROUP_COLUMNS for c in by):
        check.fail("peer_groups.by", data.get("by"), f"institution columns allowed: {list(PEER_GROUP_COLUMNS)}")
        return None
    size = check.number(data.get("min_group_size", 5), "peer_groups.min_group_size", minimum=1, integer=True)
    return PeerGroups(tuple(by), size or 5)


# --------------------------------------------------------------------------------------------
# canonical form


def _selector_mapping(selector: Selector) -> dict[str, Any]:
    return {
        "table": selector.table,
        "date": list(selector.date),
        "filters": {f.column: f.to_mapping() for f in selector.filters},
    }


def _indicator_mapping(rule: Indicator) -> dict[str, Any]:
    return {
        "id": rule.id,
        "kind": rule.kind,
        "name": {"zh": rule.name_zh, "en": rule.name_en},
        **_selector_mapping(rule.selector),
        "points": rule.points,
        "amount_column": rule.amount_column,
        "amount_bands": [{"min": b.min, "multiplier": b.multiplier} for b in rule.amount_bands] or None,
        "source_multipliers": dict(rule.source_multipliers) or None,
        "lenient_factor": rule.lenient_factor if rule.selector.table == "violations" else None,
        "cap": rule.cap,
        "window_months": rule.window_months,
    }


def _policy_mapping(policy: CreditPolicy) -> dict[str, Any]:
    mapping = {
        "name": policy.name,
        "title": {"zh": policy.title_zh, "en": policy.title_en},
        "version": policy.version,
        "description": policy.description,
        "subject": policy.subject,
        "scale": policy.scale,
        "base": policy.base,
        "minimum": policy.minimum,
        "decimals": policy.decimals,
        "grades": [
            {k: v for k, v in (("grade", g.grade), ("min", g.min), ("top_share", g.top_share)) if v is not None}
            for g in policy.grades
        ],
        "bonus_cap": policy.bonus_cap,
        "objection_window_days": policy.objection_window_days,
        "indicators": [_drop_none(_indicator_mapping(rule)) for rule in policy.indicators],
        "vetoes": [
            {
                "id": v.id,
                "name": {"zh": v.name_zh, "en": v.name_en},
                **_selector_mapping(v.selector),
                "grade": v.grade,
                "window_months": v.window_months,
            }
            for v in policy.vetoes
        ],
        "repair": [
            {"indicators": list(r.indicators), "waiting_months": r.waiting_months, "restore": r.restore}
            for r in policy.repair
        ],
    }
    if policy.peer_groups is not None:
        mapping["peer_groups"] = {
            "by": list(policy.peer_groups.by),
            "min_group_size": policy.peer_groups.min_group_size,
        }
    return _drop_none(mapping)


def _drop_none(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v is not None}
