#!/usr/bin/env python3
"""Replay and verify a published random-inspection draw (双随机抽查结果验证).

This single file is published next to every draw. It needs only Python 3.11's standard library:

    python verify_draw.py draw.json          # exit status 0 = verified, 1 = discrepancy, 2 = unreadable

or, from Python, ``verify(document) -> VerificationResult``.

It recomputes the SHA-256 hash of the pool document, every institution's ticket, the selection,
the inclusion probabilities and the inspector teams from the pool document and the seed alone, and
compares them with what the draw document claims. The service's own draw code (``scoring.draws``,
``scoring.assignment``) calls the functions in this file, so there is exactly one definition of the
algorithm. The byte layouts are in ``docs/inspection-selection.md``; in short:

* pool_hash = SHA-256 over the canonical JSON of the pool document (keys sorted, no whitespace,
  UTF-8, no floating-point numbers anywhere in it).
* institution ticket = SHA-256(UTF-8 "{seed}|{pool_hash}|{institution_code}") read as a big-endian
  256-bit integer; within each stratum the lowest tickets are drawn.
* inspector ticket = SHA-256(UTF-8 "{seed}|{pool_hash}|{institution_code}|{inspector_code}").
* systematic start (risk-weighted design only) = SHA-256(UTF-8 "{seed}|{pool_hash}") mod 2**32.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

POOL_FORMAT = "medcredit.pool/1"
DRAW_FORMAT = "medcredit.draw/1"
ALGORITHM = "medcredit-sha256-v1"

SEED_SOURCES = ("dice", "beacon")
DICE_MIN_DIGITS = 20
DICE_MAX_DIGITS = 200
BEACON_MIN_CHARS = 16
BEACON_MAX_CHARS = 1024

PROBABILITY_SCALE = 2**32  # risk-weighted design: probabilities are integers p / 2**32
WEIGHT_DECIMALS = 6  # risk weights are decimal strings with at most this many decimals
FIELD_SEPARATOR = "|"
_CODE_PATTERN = re.compile(r"[!-{}~]+")  # printable ASCII except space and "|"


# --------------------------------------------------------------------------- errors


class DrawSpecificationError(ValueError):
    """The pool document or seed does not describe a draw this algorithm can replay."""


class TeamAssignmentError(ValueError):
    """No valid inspection team (检查组) can be formed for one institution.

    ``str(error)`` gives the Simplified Chinese message followed by the English one; both are also
    available as ``message_zh`` and ``message_en``, and the numbers as attributes.
    """

    def __init__(
        self,
        institution_code: str,
        region_code: str,
        *,
        team_size: int,
        min_certified: int,
        active: int,
        recused: int,
        at_workload_cap: int,
        available: int,
        certified_available: int,
    ) -> None:
        self.institution_code = institution_code
        self.region_code = region_code
        self.team_size = team_size
        self.min_certified = min_certified
        self.active = active
        self.recused = recused
        self.at_workload_cap = at_workload_cap
        self.available = available
        self.certified_available = certified_available
        self.message_zh = (
            f"机构 {institution_code} 无法组成检查组：辖区 {region_code} 可用执法人员 {available} 名，"
            f"需要 {team_size} 名（其中持证 ≥{min_certified}）；"
            f"在岗 {active} 名，回避 {recused} 名，已达本批次工作量上限 {at_workload_cap} 名，"
            f"可用者中持证 {certified_available} 名"
        )
        self.message_en = (
            f"institution {institution_code}: no inspection team can be formed: {available} inspector(s) "
            f"available in region {region_code}, {team_size} needed (at least {min_certified} certified); "
            f"{active} active, {recused} recused, {at_workload_cap} at the workload cap of this draw, "
            f"{certified_available} certified among those available"
        )
        super().__init__(f"{self.message_zh} / {self.message_en}")


# --------------------------------------------------------------------------- canonical form and hashes


def canonical_json(document: Any) -> bytes:
    """The canonical serialisation hashed for ``pool_hash``: sorted keys, no spaces, UTF-8.

    Floating-point numbers are refused: every number in a pool document is an integer and every
    fraction a decimal string, so that any language can reproduce the bytes exactly.
    """
    try:
        text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise DrawSpecificationError(f"pool document is not plain JSON: {error}") from None
    json.loads(text, parse_float=_refuse_float)  # the C parser calls back only for floats
    return text.encode("utf-8")


def _refuse_float(text: str) -> None:
    raise DrawSpecificationError(
        f"the pool document contains the floating-point number {text}; write it as a decimal string"
    )


def compute_pool_hash(pool_document: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical pool document, as 64 lowercase hex digits."""
    return hashlib.sha256(canonical_json(pool_document)).hexdigest()


def _digest(*fields: str) -> bytes:
    return hashlib.sha256(FIELD_SEPARATOR.join(fields).encode("utf-8")).digest()


def institution_ticket(seed: str, pool_hash: str, institution_code: str) -> int:
    """SHA-256("{seed}|{pool_hash}|{institution_code}") as a big-endian integer."""
    return int.from_bytes(_digest(seed, pool_hash, institution_code), "big")


def inspector_ticket(seed: str, pool_hash: str, institution_code: str, inspector_code: str) -> int:
    """SHA-256("{seed}|{pool_hash}|{institution_code}|{inspector_code}") as a big-endian integer."""
    return int.from_bytes(_digest(seed, pool_hash, institution_code, inspector_code), "big")


def seed_pool_digest(seed: str, pool_hash: str) -> str:
    """SHA-256("{seed}|{pool_hash}") as hex: the systematic start's source and the default draw id's."""
    return _digest(seed, pool_hash).hex()


def systematic_start(seed: str, pool_hash: str) -> int:
    """Random start of the systematic PPS pass: SHA-256("{seed}|{pool_hash}") mod 2**32."""
    return int.from_bytes(_digest(seed, pool_hash), "big") % PROBABILITY_SCALE


def ticket_hex(ticket: int) -> str:
    """A ticket as the 64 lowercase hex digits of its SHA-256 digest."""
    return f"{ticket:064x}"


def institution_tickets(seed: str, pool_hash: str, codes: Iterable[str]) -> dict[str, int]:
    """Tickets for many institutions (one hash each)."""
    prefix = f"{seed}{FIELD_SEPARATOR}{pool_hash}{FIELD_SEPARATOR}"
    sha256 = hashlib.sha256
    return {code: int.from_bytes(sha256((prefix + code).encode("utf-8")).digest(), "big") for code in codes}


# --------------------------------------------------------------------------- validation of inputs


def normalise_seed(source: str, value: str) -> str:
    """Validate an externally supplied seed and return its canonical form.

    ``dice``: decimal digits as rolled (spaces and hyphens typed between groups are removed),
    20 to 200 digits. ``beacon``: the beacon's output value as printed, 16 to 1024 printable ASCII
    characters without spaces or ``|``.
    """
    if source not in SEED_SOURCES:
        raise DrawSpecificationError(f"seed source must be one of {list(SEED_SOURCES)}; got {source!r}")
    if not isinstance(value, str):
        raise DrawSpecificationError(f"seed value must be a string; got {type(value).__name__}")
    if source == "dice":
        digits = "".join(ch for ch in value if ch not in " \t-")
        if not digits or not all("0" <= ch <= "9" for ch in digits):
            raise DrawSpecificationError(f"dice seed must contain only the digits 0-9; got {value!r}")
        if not DICE_MIN_DIGITS <= len(digits) <= DICE_MAX_DIGITS:
            raise DrawSpecificationError(
                f"dice seed must have {DICE_MIN_DIGITS} to {DICE_MAX_DIGITS} digits; got {len(digits)}"
            )
        return digits
    text = value.strip()
    bad = [ch for ch in text if not ("!" <= ch <= "~") or ch == FIELD_SEPARATOR]
    if bad:
        raise DrawSpecificationError(
            f"beacon seed must be printable ASCII without spaces or '|'; got {value!r} (bad character {bad[0]!r})"
        )
    if not BEACON_MIN_CHARS <= len(text) <= BEACON_MAX_CHARS:
        raise DrawSpecificationError(
            f"beacon seed must have {BEACON_MIN_CHARS} to {BEACON_MAX_CHARS} characters; got {len(text)}"
        )
    return text


def check_code(kind: str, code: Any) -> str:
    """Codes enter the ticket bytes, so they must be non-empty printable ASCII without '|'."""
    if not isinstance(code, str) or not _CODE_PATTERN.fullmatch(code):
        raise DrawSpecificationError(f"{kind} must be non-empty printable ASCII without spaces or '|'; got {code!r}")
    return code


def parse_decimal(name: str, text: Any, *, low: Fraction, high: Fraction, low_open: bool = True) -> Fraction:
    """Parse a decimal string exactly; ``low < value <= high`` (or ``low <= value`` when not low_open)."""
    try:
        if not isinstance(text, str):
            raise InvalidOperation
        value = Fraction(Decimal(text))
    except (InvalidOperation, ValueError):
        raise DrawSpecificationError(f"{name} must be a decimal string such as '0.05'; got {text!r}") from None
    if value > high or value < low or (low_open and value == low):
        bracket = "(" if low_open else "["
        raise DrawSpecificationError(f"{name} must be in {bracket}{low}, {high}]; got {text!r}")
    return value


# --------------------------------------------------------------------------- stratified design


def stratum_sample_size(ratio: Fraction, population: int) -> int:
    """Number drawn from a stratum: ceil(ratio x population), computed exactly, at most the population.

    A non-empty stratum therefore always yields at least one institution (no grade is exempt), and
    the product is taken in exact rational arithmetic, so 0.15 x 20 gives 3, not 4.
    """
    if population <= 0:
        return 0
    return min(population, math.ceil(ratio * population))


def select_stratified(
    units: Sequence[Mapping[str, Any]], ratios: Mapping[str, str], tickets: Mapping[str, int]
) -> tuple[list[dict[str, Any]], dict[str, float], set[str]]:
    """Lowest tickets win within each stratum.

    Returns the stratum table (population, ratio, drawn, inclusion probability), each unit's inclusion
    probability, and the set of selected codes.
    """
    by_stratum: dict[str, list[str]] = {}
    for unit in units:
        by_stratum.setdefault(unit["stratum"], []).append(unit["institution_code"])
    missing = sorted(set(by_stratum) - set(ratios))
    if missing:
        raise DrawSpecificationError(
            f"design.ratios has no ratio for stratum {missing[0]!r} present in the pool; ratios given: {sorted(ratios)}"
        )
    strata: list[dict[str, Any]] = []
    probabilities: dict[str, float] = {}
    selected: set[str] = set()
    for stratum in sorted(set(ratios) | set(by_stratum)):
        ratio = parse_decimal(f"design.ratios[{stratum!r}]", ratios[stratum], low=Fraction(0), high=Fraction(1))
        codes = by_stratum.get(stratum, [])
        drawn = stratum_sample_size(ratio, len(codes))
        probability = drawn / len(codes) if codes else None
        ranked = sorted(codes, key=lambda code: (tickets[code], code))
        selected.update(ranked[:drawn])
        for code in codes:
            probabilities[code] = probability
        strata.append(
            {
                "stratum": stratum,
                "ratio": ratios[stratum],
                "population": len(codes),
                "drawn": drawn,
                "inclusion_probability": probability,
            }
        )
    return strata, probabilities, selected


# --------------------------------------------------------------------------- risk-weighted design


def parse_weight(code: str, text: Any) -> int:
    """A risk weight as an integer number of millionths (weights are decimal strings, ≥ 0, ≤ 6 decimals)."""
    try:
        if not isinstance(text, str):
            raise InvalidOperation
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        raise DrawSpecificationError(f"weight of {code} must be a decimal string; got {text!r}") from None
    scaled = value.scaleb(WEIGHT_DECIMALS)
    if not value.is_finite() or value < 0 or scaled != scaled.to_integral_value():
        raise DrawSpecificationError(
            f"weight of {code} must be a non-negative decimal with at most {WEIGHT_DECIMALS} decimals; got {text!r}"
        )
    return int(scaled)


def pps_probability_units(weights: Mapping[str, int], sample_size: int, min_probability: Fraction) -> dict[str, int]:
    """Inclusion probabilities of the risk-weighted design, as integers p with probability p / 2**32.

    Target: pi_i = m + (n - N*m) * w_i / sum(w), with m rounded up to a multiple of 2**-32, i.e. every
    institution keeps the floor m and the rest
    of the sample is shared in proportion to risk. Units whose target reaches 1 are taken with
    certainty and the rest is re-shared among the others until no target exceeds 1 (all in exact
    rational arithmetic). Targets are then floored to multiples of 2**-32 and the few missing units
    are given to the largest remainders (ties: lowest institution code), so that sum(p) = n * 2**32.
    If all remaining weights are zero, the remaining sample is shared equally.
    """
    codes = sorted(weights)
    population = len(codes)
    scale = PROBABILITY_SCALE
    # The floor is rounded up to the probability grid so that no quantised probability falls below it.
    min_probability = Fraction(math.ceil(min_probability * scale), scale)
    if not 1 <= sample_size <= population:
        raise DrawSpecificationError(
            f"design.sample_size must be between 1 and the pool size {population}; got {sample_size}"
        )
    if min_probability * population > sample_size:
        raise DrawSpecificationError(
            f"design.min_inclusion_probability {min_probability} x pool size {population} exceeds "
            f"design.sample_size {sample_size}; lower the minimum or raise the sample size"
        )
    certain: set[str] = set()
    while True:
        free = [code for code in codes if code not in certain]
        total_weight = sum(weights[code] for code in free)
        free_weight = {code: (weights[code] if total_weight else 1) for code in free}
        total_weight = total_weight or len(free)
        extra = Fraction(sample_size - len(certain)) - len(free) * min_probability
        # pi_i = numerator_i / denominator, in integers.
        denominator = min_probability.denominator * extra.denominator * total_weight
        base = min_probability.numerator * extra.denominator * total_weight
        share = min_probability.denominator * extra.numerator
        numerators = {code: base + share * free_weight[code] for code in free}
        newly_certain = {code for code in free if numerators[code] >= denominator}
        if not newly_certain:
            break
        certain |= newly_certain
    units = {code: scale for code in certain}
    remainders: list[tuple[int, str]] = []
    for code in free:
        quotient, remainder = divmod(numerators[code] * scale, denominator)
        units[code] = quotient
        remainders.append((remainder, code))
    missing = sample_size * scale - sum(units.values())
    remainders.sort(key=lambda item: (-item[0], item[1]))
    for _, code in remainders[:missing]:
        units[code] += 1
    return units


def select_systematic(order: Sequence[str], units: Mapping[str, int], start: int) -> set[str]:
    """Systematic PPS over ``order``: unit k is drawn when [C(k-1), C(k)) holds a point start + j * 2**32."""

    def points_below(x: int) -> int:
        return 0 if x <= start else (x - start - 1) // PROBABILITY_SCALE + 1

    selected: set[str] = set()
    cumulative = 0
    for code in order:
        upper = cumulative + units[code]
        if points_below(upper) > points_below(cumulative):
            selected.add(code)
        cumulative = upper
    return selected


def select_risk_weighted(
    units: Sequence[Mapping[str, Any]], design: Mapping[str, Any], tickets: Mapping[str, int], start: int
) -> tuple[list[dict[str, Any]], dict[str, float], set[str]]:
    """Randomised systematic PPS: institutions ordered by ticket, then one systematic pass."""
    weights = {unit["institution_code"]: parse_weight(unit["institution_code"], unit.get("weight")) for unit in units}
    sample_size = design.get("sample_size")
    if not isinstance(sample_size, int) or isinstance(sample_size, bool):
        raise DrawSpecificationError(f"design.sample_size must be an integer; got {sample_size!r}")
    minimum = parse_decimal(
        "design.min_inclusion_probability", design.get("min_inclusion_probability"), low=Fraction(0), high=Fraction(1)
    )
    probability_units = pps_probability_units(weights, sample_size, minimum)
    order = sorted(weights, key=lambda code: (tickets[code], code))
    selected = select_systematic(order, probability_units, start)
    probabilities = {code: p / PROBABILITY_SCALE for code, p in probability_units.items()}
    strata: dict[str, dict[str, Any]] = {}
    for unit in units:
        row = strata.setdefault(unit["stratum"], {"stratum": unit["stratum"], "population": 0, "drawn": 0})
        row["population"] += 1
        row["drawn"] += unit["institution_code"] in selected
    return [strata[key] for key in sorted(strata)], probabilities, selected


# --------------------------------------------------------------------------- inspector teams


def covering_regions(region_code: str, include_higher_levels: bool) -> list[str]:
    """Region codes whose inspectors may inspect an institution of ``region_code``.

    Exact match only, unless ``include_higher_levels``: then also the city (first 4 digits + "00")
    and province (first 2 digits + "0000") codes that contain it.
    """
    regions = [region_code]
    if include_higher_levels and len(region_code) == 6:
        for parent in (region_code[:4] + "00", region_code[:2] + "0000"):
            if parent not in regions:
                regions.append(parent)
    return regions


def _team_rules(section: Mapping[str, Any]) -> tuple[int, int, int | None, bool]:
    team = section.get("team") or {}
    size, min_certified = team.get("team_size"), team.get("min_certified")
    cap = team.get("max_assignments_per_inspector")
    if not isinstance(size, int) or size < 2:
        raise DrawSpecificationError(f"inspectors.team.team_size must be an integer >= 2; got {size!r}")
    if not isinstance(min_certified, int) or not 1 <= min_certified <= size:
        raise DrawSpecificationError(
            f"inspectors.team.min_certified must be an integer between 1 and team_size {size}; got {min_certified!r}"
        )
    if cap is not None and (not isinstance(cap, int) or cap < 1):
        raise DrawSpecificationError(
            f"inspectors.team.max_assignments_per_inspector must be null or an integer >= 1; got {cap!r}"
        )
    return size, min_certified, cap, bool(team.get("include_higher_level_inspectors", False))


def assign_teams(
    visits: Sequence[tuple[str, str]], section: Mapping[str, Any], seed: str, pool_hash: str
) -> list[dict[str, Any]]:
    """Draw an inspection team for each (institution_code, region_code) visit.

    Visits are served in ascending order of their institution ticket. For each one the candidates are
    the available inspectors of the covering regions, minus those recused for that institution, minus
    those who reached the workload cap in this draw; they are ranked by inspector ticket. The team is
    the ``min_certified`` lowest-ticket certified candidates (the first is the lead), then the
    lowest-ticket remaining candidates up to ``team_size``. Raises TeamAssignmentError when that fails.
    """
    size, min_certified, cap, higher = _team_rules(section)
    by_region: dict[str, list[tuple[str, bool]]] = {}
    for inspector in section.get("available", []):
        by_region.setdefault(inspector["region_code"], []).append(
            (inspector["inspector_code"], bool(inspector["certified"]))
        )
    recused_for: dict[str, set[str]] = {}
    for inspector_code, institution_codes in (section.get("recusals") or {}).items():
        for institution_code in institution_codes:
            recused_for.setdefault(institution_code, set()).add(inspector_code)
    load: dict[str, int] = {}
    tickets = institution_tickets(seed, pool_hash, [code for code, _ in visits])
    teams = []
    for institution_code, region_code in sorted(visits, key=lambda visit: (tickets[visit[0]], visit[0])):
        candidates = [c for region in covering_regions(region_code, higher) for c in by_region.get(region, [])]
        recused = recused_for.get(institution_code, set())
        not_recused = [c for c in candidates if c[0] not in recused]
        free = [c for c in not_recused if cap is None or load.get(c[0], 0) < cap]
        prefix = FIELD_SEPARATOR.join((seed, pool_hash, institution_code, "")).encode("utf-8")
        ranked = sorted(
            (int.from_bytes(hashlib.sha256(prefix + code.encode("utf-8")).digest(), "big"), code, certified)
            for code, certified in free
        )  # the same bytes as inspector_ticket(seed, pool_hash, institution_code, code)
        certified = [entry for entry in ranked if entry[2]]
        if len(ranked) < size or len(certified) < min_certified:
            raise TeamAssignmentError(
                institution_code,
                region_code,
                team_size=size,
                min_certified=min_certified,
                active=len(candidates),
                recused=len(candidates) - len(not_recused),
                at_workload_cap=len(not_recused) - len(free),
                available=len(ranked),
                certified_available=len(certified),
            )
        leads = certified[:min_certified]
        members = leads + [entry for entry in ranked if entry not in leads][: size - min_certified]
        for _, code, _ in members:
            load[code] = load.get(code, 0) + 1
        teams.append(
            {
                "institution_code": institution_code,
                "lead_inspector_code": leads[0][1],
                "inspector_codes": [code for _, code, _ in members],
                "tickets": {code: ticket_hex(ticket) for ticket, code, _ in members},
            }
        )
    return teams


# --------------------------------------------------------------------------- the whole draw


def replay_draw(pool_document: Mapping[str, Any], pool_hash: str, seed: str) -> dict[str, Any]:
    """Everything a draw document states that follows from the pool document and the seed.

    Returns ``method``, ``strata``, ``selected`` (ascending ticket order), ``inclusion_probabilities``
    (every pool institution), ``assignments`` (or None) and, for the risk-weighted design,
    ``systematic_start``; also ``tickets`` (all institutions, hex), which draw documents omit.
    """
    if pool_document.get("format") != POOL_FORMAT:
        raise DrawSpecificationError(f"pool.format must be {POOL_FORMAT!r}; got {pool_document.get('format')!r}")
    units = pool_document.get("units") or []
    for unit in units:
        check_code("institution_code", unit.get("institution_code"))
    codes = [unit["institution_code"] for unit in units]
    if codes != sorted(set(codes)):
        raise DrawSpecificationError("pool.units must be sorted by institution_code without duplicates")
    design = pool_document.get("design") or {}
    method = design.get("method")
    tickets = institution_tickets(seed, pool_hash, codes)
    start = None
    if method == "stratified":
        if design.get("rounding") != "ceil":
            raise DrawSpecificationError(f"pool.design.rounding must be 'ceil'; got {design.get('rounding')!r}")
        strata, probabilities, selected = select_stratified(units, design.get("ratios") or {}, tickets)
    elif method == "risk_weighted":
        start = systematic_start(seed, pool_hash)
        strata, probabilities, selected = select_risk_weighted(units, design, tickets, start)
    else:
        raise DrawSpecificationError(f"pool.design.method must be 'stratified' or 'risk_weighted'; got {method!r}")
    by_code = {unit["institution_code"]: unit for unit in units}
    ordered = sorted(selected, key=lambda code: (tickets[code], code))
    result: dict[str, Any] = {
        "method": method,
        "strata": strata,
        "selected": [
            {
                "institution_code": code,
                "region_code": by_code[code]["region_code"],
                "stratum": by_code[code]["stratum"],
                "ticket": ticket_hex(tickets[code]),
                "inclusion_probability": probabilities[code],
            }
            for code in ordered
        ],
        "inclusion_probabilities": {code: probabilities[code] for code in codes},
        "assignments": None,
        "tickets": {code: ticket_hex(tickets[code]) for code in codes},
    }
    if start is not None:
        result["systematic_start"] = start
    section = pool_document.get("inspectors")
    if section is not None:
        visits = [(code, by_code[code]["region_code"]) for code in ordered]
        result["assignments"] = assign_teams(visits, section, seed, pool_hash)
    return result


# --------------------------------------------------------------------------- verification


@dataclass
class VerificationResult:
    """Outcome of ``verify``: ``ok``, the checks passed, and the first discrepancy found (if any)."""

    ok: bool
    draw_id: str | None
    checks: list[str] = field(default_factory=list)
    discrepancy: str | None = None

    def summary(self) -> str:
        if self.ok:
            return f"验证通过 / VERIFIED: draw {self.draw_id} ({'; '.join(self.checks)})"
        return f"验证未通过 / NOT VERIFIED: draw {self.draw_id}: {self.discrepancy}"


def _first_difference(name: str, claimed: Any, replayed: Any) -> str | None:
    """Path and both values of the first place where two JSON values differ."""
    if isinstance(claimed, Mapping) and isinstance(replayed, Mapping):
        for key in sorted(set(claimed) | set(replayed), key=str):
            if key not in claimed:
                return f"{name}[{key!r}] is missing from the document (replay gives {replayed[key]!r})"
            if key not in replayed:
                return f"{name}[{key!r}] = {claimed[key]!r} is in the document but not in the replay"
            found = _first_difference(f"{name}[{key!r}]", claimed[key], replayed[key])
            if found:
                return found
        return None
    if isinstance(claimed, list) and isinstance(replayed, list):
        for index, (left, right) in enumerate(zip(claimed, replayed, strict=False)):
            found = _first_difference(f"{name}[{index}]", left, right)
            if found:
                return found
        if len(claimed) != len(replayed):
            return f"{name} has {len(claimed)} entries in the document, {len(replayed)} in the replay"
        return None
    if type(claimed) is not type(replayed) or claimed != replayed:
        return f"{name}: document has {claimed!r}, replay gives {replayed!r}"
    return None


def verify(document: Mapping[str, Any]) -> VerificationResult:
    """Replay a draw document and confirm it exactly, or name the first discrepancy."""
    result = VerificationResult(ok=False, draw_id=document.get("draw_id") if isinstance(document, Mapping) else None)

    def fail(message: str) -> VerificationResult:
        result.discrepancy = message
        return result

    if not isinstance(document, Mapping) or document.get("format") != DRAW_FORMAT:
        return fail(f"format must be {DRAW_FORMAT!r}")
    if document.get("algorithm") != ALGORITHM:
        return fail(f"algorithm: document has {document.get('algorithm')!r}, this verifier implements {ALGORITHM!r}")
    pool = document.get("pool")
    if not isinstance(pool, Mapping):
        return fail("pool document is missing")
    try:
        pool_hash = compute_pool_hash(pool)
    except DrawSpecificationError as error:
        return fail(f"pool cannot be hashed: {error}")
    if document.get("pool_hash") != pool_hash:
        return fail(f"pool_hash: document has {document.get('pool_hash')!r}, the pool hashes to {pool_hash!r}")
    result.checks.append(f"pool_hash {pool_hash}")
    seed = document.get("seed")
    if not isinstance(seed, Mapping):
        return fail("seed is missing")
    try:
        seed_value = normalise_seed(seed.get("source"), seed.get("value"))
    except DrawSpecificationError as error:
        return fail(f"seed: {error}")
    if seed_value != seed.get("value"):
        return fail(f"seed.value {seed.get('value')!r} is not in canonical form {seed_value!r}")
    result.checks.append(f"seed ({seed['source']}) valid")
    try:
        replay = replay_draw(pool, pool_hash, seed_value)
    except (KeyError, TypeError, ValueError) as error:  # includes DrawSpecificationError, TeamAssignmentError
        return fail(f"the draw cannot be replayed: {type(error).__name__}: {error}")
    replay.pop("tickets")
    for key in ("method", "systematic_start", "strata", "selected", "inclusion_probabilities", "assignments"):
        if key not in replay and key not in document:
            continue
        difference = _first_difference(key, document.get(key), replay.get(key))
        if difference:
            return fail(difference)
    result.checks.append(f"{len(replay['selected'])} selected institutions replayed")
    result.checks.append(f"{len(replay['inclusion_probabilities'])} inclusion probabilities replayed")
    if replay["assignments"] is not None:
        result.checks.append(f"{len(replay['assignments'])} inspection teams replayed")
    result.ok = True
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Verify a published medcredit random-inspection draw (双随机抽查验证)."
    )
    parser.add_argument("draw", help="path of the draw document (JSON)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    try:
        with open(args.draw, encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError) as error:
        print(f"无法读取 / cannot read {args.draw}: {error}", file=sys.stderr)
        return 2
    result = verify(document)
    if args.json:
        print(json.dumps(result.__dict__, ensure_ascii=False, indent=2))
    else:
        print(result.summary())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
