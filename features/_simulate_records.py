"""The bureau's records as they accumulate, and their export as contract tables and ground truth."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

from features import _simulate_config as cfg
from features._simulate_city import City
from features._simulate_dispositions import Decision
from features._simulate_output import bool_text, int_text, iso_dates, money_text


def _year(day: int) -> int:
    return int(str(np.datetime64(int(day), "D"))[:4])


class Records:
    def __init__(self, city: City) -> None:
        self.city = city
        self.inspections: list[dict] = []
        self.inspection_truth: list[dict] = []
        self._inspection_row: dict[str, int] = {}
        self.violations: list[dict] = []
        self.violation_truth: list[dict] = []
        self.complaints: list[dict] = []
        self.referrals: list[dict] = []
        self.self_inspections: list[dict] = []
        self.self_inspection_truth: list[dict] = []
        self.staff_points: list[dict] = []
        self._serial: dict[tuple[str, int], int] = defaultdict(int)
        self._staff_year_points: dict[tuple[int, int], int] = defaultdict(int)
        self.staff_suspended_until: dict[int, int] = {}
        self.staff_terminated: set[int] = set()

    def _next_id(self, prefix: str, day: int, width: int) -> str:
        year = _year(day)
        self._serial[(prefix, year)] += 1
        return f"{prefix}{year}{self._serial[(prefix, year)]:0{width}d}"

    def _code(self, i: int) -> str:
        return self.city.institutions.code[i]

    # ---- inspections and violations -------------------------------------------------------------
    def add_inspection(
        self,
        rng: np.random.Generator,
        i: int,
        day: int,
        kind: str,
        team: list[int],
        draw_id: str | None,
        *,
        strength: float,
        true_amount: int,
        probability: float,
        lead: str,
    ) -> str:
        inspection_id = self._next_id("JC", day, 6)
        self._inspection_row[inspection_id] = len(self.inspections)
        self.inspections.append(
            {
                "inspection_id": inspection_id,
                "institution_code": self._code(i),
                "start_date": day,
                "kind": kind,
                "level": cfg.INSPECTION_LEVEL[kind],
                "items": self._check_items(rng, i),
                "inspector_codes": ";".join(self.city.inspectors.code[team]),
                "draw_id": draw_id or "",
                "found_violation": False,
                "amount_found": 0,
                "result_published": self._publication_day(rng, kind, day),
            }
        )
        self.inspection_truth.append(
            {
                "inspection_id": inspection_id,
                "detection_strength": strength,
                "true_amount_at_stake": true_amount / 100,
                "detection_probability": probability,
                "selection_reason": lead,
                "inspector_skill_mean": float(self.city.inspectors.skill[team].mean()),
            }
        )
        return inspection_id

    def _check_items(self, rng, i: int) -> str:
        inst = self.city.institutions
        theme = "pharmacy" if inst.kind[i] == cfg.PHARMACY else ("inpatient" if inst.has_beds[i] else "outpatient")
        items = cfg.CHECK_ITEMS[theme]
        return ";".join(sorted(rng.choice(items, size=int(rng.integers(2, min(4, len(items)) + 1)), replace=False)))

    def _publication_day(self, rng, kind: str, day: int) -> int:
        """Published within 20 working days; at most 15 weekdays after the visit ends, so that the
        official holiday calendar cannot push an on-time publication past the limit. Some are late."""
        if rng.random() > cfg.PUBLISH_SHARE.get(kind, cfg.PUBLISH_DEFAULT_SHARE):
            return -1
        visit_end = np.datetime64(int(day + rng.integers(0, 4)), "D")
        delay = int(rng.integers(25, 50)) if rng.random() < cfg.PUBLISH_LATE_SHARE else int(rng.integers(3, 16))
        published = int(np.busday_offset(visit_end, delay, roll="forward").astype(np.int64))
        return published if published <= self.city.end_day else -1

    def add_violation(
        self,
        i: int,
        found_day: int,
        source: str,
        inspection_id: str | None,
        amount: int,
        decision: Decision,
        staff: list[int],
        *,
        pattern: int,
        true_amount: int,
    ) -> None:
        violation_id = self._next_id("V", found_day, 6)
        self.violations.append(
            {
                "violation_id": violation_id,
                "institution_code": self._code(i),
                "found_date": found_day,
                "decision_date": -1 if decision.decision_day is None else decision.decision_day,
                "source": source,
                "inspection_id": inspection_id or "",
                "category": decision.category,
                "amount": amount,
                "disposition": decision.disposition,
                "penalty_amount": -1 if decision.penalty_cents is None else decision.penalty_cents,
                "fraud": decision.fraud,
                "lenient": decision.lenient,
                "status": decision.status,
                "staff_codes": ";".join(self.city.staff.code[staff]) if staff else "",
            }
        )
        self.violation_truth.append(
            {"violation_id": violation_id, "pattern": cfg.PATTERNS[pattern], "true_amount_at_stake": true_amount / 100}
        )
        if inspection_id is not None:
            row = self.inspections[self._inspection_row[inspection_id]]
            row["found_violation"] = True
            row["amount_found"] += amount

    # ---- complaints, referrals, self-inspections ------------------------------------------------
    def add_complaint(self, i: int, day: int, channel: str) -> int:
        self.complaints.append(
            {
                "complaint_id": self._next_id("TS", day, 5),
                "institution_code": self._code(i),
                "received_date": day,
                "channel": channel,
                "substantiated": None,
                "closed_date": -1,
                "_inst": i,
            }
        )
        return len(self.complaints) - 1

    def close_complaint(self, row: int, day: int, substantiated: bool) -> None:
        if day <= self.city.end_day:
            self.complaints[row]["substantiated"] = substantiated
            self.complaints[row]["closed_date"] = day

    def substantiated_complaints_since(self, day: int, n: int) -> np.ndarray:
        counts = np.zeros(n)
        for c in self.complaints:
            if c["substantiated"] and c["closed_date"] >= day:
                counts[c["_inst"]] += 1
        return counts

    def add_referral(self, i: int, day: int, department: str, category: str) -> None:
        self.referrals.append(
            {
                "referral_id": self._next_id("TB", day, 4),
                "institution_code": self._code(i),
                "date": day,
                "department": department,
                "category": category,
            }
        )

    def add_self_inspection(
        self,
        i: int,
        period: tuple[int, int],
        submitted: int,
        reported: int,
        refunded: int,
        *,
        honest: bool,
        true_amount: int,
    ) -> int:
        report_id = self._next_id("ZC", submitted, 5)
        self.self_inspections.append(
            {
                "report_id": report_id,
                "institution_code": self._code(i),
                "period_start": period[0],
                "period_end": period[1],
                "submitted_date": submitted,
                "problems_reported": reported,
                "amount_refunded": refunded,
                "verified": False,
                "verified_date": -1,
                "problems_found": -1,
                "amount_found": -1,
            }
        )
        self.self_inspection_truth.append(
            {"report_id": report_id, "honest_reporter": honest, "true_amount_at_stake": true_amount / 100}
        )
        return len(self.self_inspections) - 1

    def self_inspection_period(self, row: int) -> tuple[int, int]:
        return self.self_inspections[row]["period_start"], self.self_inspections[row]["period_end"]

    def verify_self_inspection(self, row: int, day: int, problems: int, amount: int) -> None:
        self.self_inspections[row].update(
            verified=True, verified_date=day, problems_found=problems, amount_found=amount
        )

    # ---- staff points (2024 national rule) ------------------------------------------------------
    def score_staff(self, rng, i: int, staff: list[int], day: int, points: tuple[int, int]) -> None:
        year = _year(day)
        for s in staff:
            band = (7, 9) if self._staff_year_points[(s, year)] > 0 and rng.random() < 0.5 else points
            value = int(rng.integers(band[0], band[1] + 1))
            self._staff_year_points[(s, year)] += value
            self.staff_points.append(
                {
                    "event_id": self._next_id("JF", day, 6),
                    "staff_code": self.city.staff.code[s],
                    "institution_code": self._code(i),
                    "date": day,
                    "points": value,
                    "reason": cfg.POINTS_REASONS[band],
                }
            )
            total = self._staff_year_points[(s, year)]
            if total >= 12:
                self.staff_terminated.add(s)
            elif total >= 9:
                self.suspend_staff([s], day + int(rng.integers(30, 181)))

    def suspend_staff(self, staff: list[int], until: int) -> None:
        for s in staff:
            self.staff_suspended_until[s] = max(until, self.staff_suspended_until.get(s, 0))

    # ---- export ---------------------------------------------------------------------------------
    def tables(
        self, terminated_on: np.ndarray, suspended_from: np.ndarray, suspended_until: np.ndarray
    ) -> dict[str, pd.DataFrame]:
        """Every CSV table of the data contract, values already formatted as text."""
        return {
            "institutions": self._institutions(terminated_on, suspended_from, suspended_until),
            "inspectors": self._inspectors(),
            "staff": self._staff(),
            "violations": self._violations(),
            "inspections": self._inspections(),
            "self_inspections": self._self_inspections(),
            "complaints": self._complaints(),
            "referrals": _frame(
                self.referrals, ("referral_id", "institution_code", "date", "department", "category"), dates=("date",)
            ),
            "staff_points": _frame(
                self.staff_points,
                ("event_id", "staff_code", "institution_code", "date", "points", "reason"),
                dates=("date",),
            ),
        }

    def _institutions(self, terminated_on, suspended_from, suspended_until) -> pd.DataFrame:
        inst, end = self.city.institutions, self.city.end_day
        terminated = terminated_on <= end
        suspended = ~terminated & (suspended_from <= end) & (suspended_until > end)
        resumed = ~terminated & ~suspended & (suspended_until <= end)
        status = np.where(terminated, "terminated", np.where(suspended, "suspended", "active"))
        since = np.select(
            [terminated, suspended, resumed], [terminated_on, suspended_from, suspended_until], inst.designated
        )
        return pd.DataFrame(
            {
                "institution_code": inst.code,
                "name": inst.name,
                "credit_code": inst.credit_code,
                "kind": np.asarray(cfg.KINDS, dtype=object)[inst.kind],
                "level": int_text(inst.level),
                "ownership": np.where(inst.public, "public", "private"),
                "region_code": np.asarray([c[0] for c in cfg.COUNTIES], dtype=object)[inst.county],
                "beds": int_text(inst.beds),
                "staff_count": int_text(inst.staff_count),
                "designated_since": iso_dates(inst.designated),
                "status": status,
                "status_since": iso_dates(since),
            }
        )

    def _inspectors(self) -> pd.DataFrame:
        ins, end = self.city.inspectors, self.city.end_day
        return pd.DataFrame(
            {
                "inspector_code": ins.code,
                "name": ins.name,
                "region_code": ins.region,
                "certified": bool_text(ins.certified),
                "active": bool_text(ins.left_on > end),
                "specialties": ins.specialties,
                "conflicts": [";".join(self.city.institutions.code[sorted(c)]) for c in ins.conflicts],
            }
        )

    def _staff(self) -> pd.DataFrame:
        staff, end = self.city.staff, self.city.end_day
        status = np.full(len(staff.code), "active", dtype=object)
        for s, until in self.staff_suspended_until.items():
            if until > end:
                status[s] = "suspended"
        status[sorted(self.staff_terminated)] = "terminated"
        return pd.DataFrame(
            {
                "staff_code": staff.code,
                "institution_code": self.city.institutions.code[staff.institution],
                "role": np.asarray(cfg.STAFF_ROLES, dtype=object)[staff.role],
                "status": status,
            }
        )

    def _violations(self) -> pd.DataFrame:
        columns = (
            "violation_id",
            "institution_code",
            "found_date",
            "decision_date",
            "source",
            "inspection_id",
            "category",
            "amount",
            "disposition",
            "penalty_amount",
            "fraud",
            "lenient",
            "status",
            "staff_codes",
        )
        return _frame(
            self.violations,
            columns,
            dates=("found_date", "decision_date"),
            money=("amount", "penalty_amount"),
            bools=("fraud", "lenient"),
        )

    def _inspections(self) -> pd.DataFrame:
        columns = (
            "inspection_id",
            "institution_code",
            "start_date",
            "kind",
            "level",
            "items",
            "inspector_codes",
            "draw_id",
            "found_violation",
            "amount_found",
            "result_published",
        )
        return _frame(
            self.inspections,
            columns,
            dates=("start_date", "result_published"),
            money=("amount_found",),
            bools=("found_violation",),
        )

    def _self_inspections(self) -> pd.DataFrame:
        columns = (
            "report_id",
            "institution_code",
            "period_start",
            "period_end",
            "submitted_date",
            "problems_reported",
            "amount_refunded",
            "verified",
            "verified_date",
            "problems_found",
            "amount_found",
        )
        return _frame(
            self.self_inspections,
            columns,
            dates=("period_start", "period_end", "submitted_date", "verified_date"),
            money=("amount_refunded", "amount_found"),
            bools=("verified",),
            ints=("problems_reported", "problems_found"),
        )

    def _complaints(self) -> pd.DataFrame:
        frame = _frame(
            self.complaints,
            ("complaint_id", "institution_code", "received_date", "channel", "substantiated", "closed_date"),
            dates=("received_date", "closed_date"),
        )
        if len(frame):
            known = frame["substantiated"].map(lambda v: v is not None)
            frame["substantiated"] = np.where(known, bool_text(frame["substantiated"].fillna(False).astype(bool)), "")
        return frame


def _frame(rows: list[dict], columns: tuple[str, ...], *, dates=(), money=(), bools=(), ints=()) -> pd.DataFrame:
    """Rows as a text DataFrame; -1 marks a missing date, amount or count."""
    if not rows:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    frame = pd.DataFrame([{c: r[c] for c in columns} for r in rows], columns=list(columns))
    for c in dates:
        frame[c] = iso_dates(frame[c].to_numpy(np.int64))
    for c in money:
        values = frame[c].to_numpy(np.int64)
        frame[c] = money_text(np.maximum(values, 0), missing=values < 0)
    for c in bools:
        frame[c] = bool_text(frame[c].to_numpy(bool))
    for c in ints:
        values = frame[c].to_numpy(np.int64)
        frame[c] = int_text(values, missing=values < 0)
    return frame
