"""The insurance bureau at work, month by month: plans, inspections, leads, decisions.

The bureau only sees what a real one sees (claims signals, complaints, referrals, self-inspection
reports, past violations). What it finds depends on the true abuse still undiscovered in the
institution's last 12 months of claims, on the kind of inspection and on the inspectors' skill.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from features import _simulate_config as cfg
from features._simulate_abuse import MonthLedger
from features._simulate_city import City
from features._simulate_claims import MonthContext
from features._simulate_dispositions import RANK, Decision, decide
from features._simulate_output import NO_DATE
from features._simulate_records import Records

_N_PATTERNS = len(cfg.PATTERNS)
_VISIBLE = [k for k in range(_N_PATTERNS) if k != cfg.HIDDEN]
PRIOR_MONTHS = 12


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def detection_chance(strength, claims, abusive):
    """Chance that a record review finds abuse among ``abusive`` of ``claims`` claims (config's review size)."""
    claims = np.maximum(claims, 1)
    reviewed = np.minimum(claims, cfg.REVIEW_RECORDS * (claims / 1000) ** cfg.REVIEW_SIZE_EXPONENT)
    return 1 - np.exp(-strength * reviewed * np.minimum(abusive / claims, 1.0))


@dataclass(order=True)
class Event:
    day: int
    sequence: int
    action: str = field(compare=False)  # "inspection" or "verify"
    inst: int = field(compare=False)
    kind: str = field(compare=False, default="routine")
    draw_id: str | None = field(compare=False, default=None)
    source: str | None = field(compare=False, default=None)
    lead: str = field(compare=False, default="")
    complaint: int | None = field(compare=False, default=None)
    report: int | None = field(compare=False, default=None)


class Bureau:
    def __init__(self, rng: np.random.Generator, city: City, start_year: int, years: int) -> None:
        self.rng, self.city, self.start_year, self.years = rng, city, start_year, years
        n, months = len(city.institutions), 12 * years
        self.month_start = np.array(
            [
                np.datetime64(f"{start_year + m // 12}-{m % 12 + 1:02d}-01", "D").astype(np.int64)
                for m in range(months + 1)
            ]
        )
        # Undiscovered abuse by month; the first PRIOR_MONTHS hold conduct from before the data starts,
        # so that inspections early in the first year have a past to find, as real ones do.
        self.remaining_count = np.zeros((n, PRIOR_MONTHS + months, _N_PATTERNS))
        self.remaining_amount = np.zeros((n, PRIOR_MONTHS + months, _N_PATTERNS))
        self.realised_count = np.zeros((n, months, _N_PATTERNS), dtype=np.int64)
        self.realised_amount = np.zeros((n, months, _N_PATTERNS), dtype=np.int64)
        self.claims = np.zeros((n, months), dtype=np.int64)
        self.revenue = np.zeros((n, months), dtype=np.int64)
        self.flags = np.zeros((n, months), dtype=np.int64)
        self.logit = np.zeros((n, years))
        self.monthly_propensity = np.zeros((n, months))
        self.deterrence = np.zeros(n)
        self.suspended_from = np.full(n, NO_DATE, dtype=np.int64)
        self.suspended_until = np.full(n, NO_DATE, dtype=np.int64)
        self.terminated_on = np.full(n, NO_DATE, dtype=np.int64)
        self.last_targeted = np.full(n, -(10**6), dtype=np.int64)
        self.violation_days: list[list[int]] = [[] for _ in range(n)]
        self.events: list[Event] = []
        self._sequence = 0
        self.records = Records(city)
        self.home_team = [self._draw_team(i, city.start_day, "routine") for i in range(n)]
        self.light_dispositions: dict[tuple[int, int], int] = {}

    # ---- calendar -------------------------------------------------------------------------------
    def month_of(self, day: int) -> int:
        return int(np.searchsorted(self.month_start, day, side="right") - 1)

    def _year_bounds(self, year_index: int) -> tuple[int, int]:
        return int(self.month_start[12 * year_index]), int(self.month_start[12 * year_index + 12] - 1)

    def _schedule(self, day: int, action: str, inst: int, **details) -> None:
        if day <= self.city.end_day:
            self._sequence += 1
            self.events.append(Event(int(day), self._sequence, action, int(inst), **details))

    # ---- conduct --------------------------------------------------------------------------------
    def begin_year(self, year_index: int) -> None:
        """Draw this year's propensities, then plan routine, random, special, flying and cross visits,
        and the complaints and referrals that will arrive during the year."""
        self._draw_propensity(year_index)
        if year_index == 0:  # start from the deterrence that past decisions would have left
            self.deterrence = self.rng.exponential(0.3 * sigmoid(self.logit[:, 0]))
        first, last = self._year_bounds(year_index)
        p = sigmoid(self.logit[:, year_index])
        drawn = self._plan_random_draws(year_index, first)
        self._plan_routine(first, last, drawn)
        self._plan_campaigns(year_index, first, last)
        self._plan_complaints(first, last, p)
        self._plan_referrals(first, last, p)

    def _draw_propensity(self, year_index: int) -> None:
        inst, rng = self.city.institutions, self.rng
        mean = inst.propensity_mean
        if year_index == 0:
            spread = cfg.PROPENSITY_DRIFT_SD / np.sqrt(1 - cfg.PROPENSITY_AR**2)
            self.logit[:, 0] = mean + rng.normal(0, spread, len(mean))
        else:
            previous = self.logit[:, year_index - 1]
            self.logit[:, year_index] = (
                mean + cfg.PROPENSITY_AR * (previous - mean) + rng.normal(0, cfg.PROPENSITY_DRIFT_SD, len(mean))
            )

    def month_context(self, month_index: int) -> MonthContext:
        first, last = int(self.month_start[month_index]), int(self.month_start[month_index + 1] - 1)
        start = np.maximum(first, self.city.institutions.designated)
        end = np.minimum(last, self.terminated_on - 1)
        suspended = (self.suspended_from <= last) & (self.suspended_until > first)
        end = np.where(suspended & (self.suspended_from > first), np.minimum(end, self.suspended_from - 1), end)
        start = np.where(suspended & (self.suspended_from <= first), np.maximum(start, self.suspended_until), start)
        end = np.where(suspended & (self.suspended_from <= first) & (self.suspended_until > last), start - 1, end)
        self.deterrence *= cfg.DETERRENCE_DECAY_PER_MONTH
        propensity = sigmoid(self.logit[:, month_index // 12] - self.deterrence)
        self.monthly_propensity[:, month_index] = propensity
        year, month = self.start_year + month_index // 12, month_index % 12 + 1
        return MonthContext(
            month_index, year, month, first, last, start.astype(np.int64), end.astype(np.int64), propensity
        )

    def _ledger_months(self, first_month: int, last_month: int) -> slice:
        """Ledger columns of simulated months first_month..last_month (may reach into the prior year)."""
        return slice(max(0, PRIOR_MONTHS + first_month), PRIOR_MONTHS + last_month + 1)

    def record_month(self, month_index: int, ledger: MonthLedger) -> None:
        self.remaining_count[:, PRIOR_MONTHS + month_index] = ledger.abuse_count
        self.remaining_amount[:, PRIOR_MONTHS + month_index] = ledger.abuse_amount
        if month_index == 0:
            self._fill_prior_months(ledger)
        self.realised_count[:, month_index] = ledger.abuse_count
        self.realised_amount[:, month_index] = ledger.abuse_amount
        self.claims[:, month_index] = ledger.claims
        self.revenue[:, month_index] = ledger.revenue
        self.flags[:, month_index] = ledger.flags

    def _fill_prior_months(self, ledger: MonthLedger) -> None:
        """Abuse before the start, like the first month's; part of it was already found or refunded."""
        shape = self.remaining_count[:, :PRIOR_MONTHS].shape
        count = self.rng.poisson(np.broadcast_to(0.6 * ledger.abuse_count[:, None, :], shape))
        per_event = ledger.abuse_amount / np.maximum(ledger.abuse_count, 1)
        self.remaining_count[:, :PRIOR_MONTHS] = count
        self.remaining_amount[:, :PRIOR_MONTHS] = count * per_event[:, None, :]

    def close_month(self, month_index: int) -> None:
        """Carry out what falls in this month, then plan from what the month revealed."""
        last = int(self.month_start[month_index + 1] - 1)
        due = sorted(e for e in self.events if e.day <= last)
        self.events = [e for e in self.events if e.day > last]
        for event in due:
            if event.action == "inspection":
                self._inspect(event)
            else:
                self._verify_self_inspection(event)
        if month_index % 3 == 2:
            self._smart_audit(month_index)
            self._plan_targeted(month_index)
        if month_index % 12 == 5:
            self._self_inspection_campaign(month_index)

    # ---- planning -------------------------------------------------------------------------------
    def _eligible(self, day: int) -> np.ndarray:
        inst = self.city.institutions
        return (inst.designated <= day) & (self.terminated_on > day)

    def _plan_random_draws(self, year_index: int, first: int) -> set[int]:
        """Two 'double random' draws a year, stratified by county and kind."""
        inst, rng, drawn = self.city.institutions, self.rng, set()
        for number, month in ((1, 3), (2, 9)):
            draw_day = int(self.month_start[12 * year_index + month - 1])
            draw_id = f"D{self.start_year + year_index}-{number:02d}"
            pool = self._eligible(draw_day)
            for stratum in np.unique(inst.county * 10 + inst.kind):
                members = np.flatnonzero(pool & (inst.county * 10 + inst.kind == stratum))
                size = int(np.floor(len(members) * cfg.RANDOM_DRAW_SHARE + rng.random()))
                for i in rng.choice(members, size=min(size, len(members)), replace=False):
                    drawn.add(int(i))
                    self._schedule(
                        draw_day + int(rng.integers(5, 60)),
                        "inspection",
                        i,
                        kind="random",
                        draw_id=draw_id,
                        lead="random draw",
                    )
        return drawn

    def _plan_routine(self, first: int, last: int, drawn: set[int]) -> None:
        inst, rng = self.city.institutions, self.rng
        for i in np.flatnonzero(self._eligible(last - 60)):
            if int(i) in drawn or rng.random() > cfg.ROUTINE_COVERAGE:
                continue  # a drawn institution's routine check is merged into the random visit
            low = max(first, int(inst.designated[i]) + 30)
            day = _working_day(int(rng.integers(low, last - 10)))
            self._schedule(day, "inspection", i, kind="routine", lead="annual coverage")

    def _plan_campaigns(self, year_index: int, first: int, last: int) -> None:
        inst, rng, n = self.city.institutions, self.rng, len(self.city.institutions)
        theme = cfg.SPECIAL_THEMES[year_index % len(cfg.SPECIAL_THEMES)]
        targets = {
            "inpatient": inst.has_beds,
            "pharmacy": inst.kind == cfg.PHARMACY,
            "clinic": np.isin(inst.kind, (cfg.CLINIC, cfg.VILLAGE)),
        }[theme]
        window = first + 120
        for i in np.flatnonzero(targets & self._eligible(window) & (rng.random(n) < cfg.SPECIAL_SHARE)):
            self._schedule(
                _working_day(window + int(rng.integers(0, 60))),
                "inspection",
                i,
                kind="special",
                lead=f"special campaign: {theme}",
            )
        weight = inst.volume * self._eligible(first)
        n_flying = int(np.floor(n * cfg.FLYING_SHARE + rng.random()))
        if weight.sum() > 0:
            for i in rng.choice(n, size=min(n_flying, (weight > 0).sum()), replace=False, p=weight / weight.sum()):
                self._schedule(
                    _working_day(int(rng.integers(first, last - 20))),
                    "inspection",
                    i,
                    kind="flying",
                    lead="provincial flying inspection",
                )
        pool = np.flatnonzero(self._eligible(first))
        n_cross = min(len(pool), int(np.floor(n * cfg.CROSS_SHARE + rng.random())))
        for i in rng.choice(pool, size=n_cross, replace=False):
            self._schedule(
                _working_day(first + 270 + int(rng.integers(0, 60))),
                "inspection",
                i,
                kind="cross",
                lead="cross inspection",
            )

    def _plan_complaints(self, first: int, last: int, p: np.ndarray) -> None:
        inst, rng = self.city.institutions, self.rng
        rate = (cfg.COMPLAINT_BASE_RATE + cfg.COMPLAINT_PROPENSITY_RATE * p) * np.minimum(3, inst.volume**0.3)
        for i in np.repeat(np.arange(len(inst)), rng.poisson(rate)):
            day = int(rng.integers(first, last + 1))
            if inst.designated[i] > day or self.terminated_on[i] <= day:
                continue
            row = self.records.add_complaint(
                i,
                day,
                str(rng.choice([c for c, _ in cfg.COMPLAINT_CHANNELS], p=[w for _, w in cfg.COMPLAINT_CHANNELS])),
            )
            if rng.random() < 0.1 and p[i] < 0.3:  # dismissed on paper, no visit needed
                self.records.close_complaint(row, day + int(rng.integers(5, 30)), False)
            else:
                self._schedule(
                    day + int(rng.integers(5, 26)), "inspection", i, kind="complaint", complaint=row, lead="complaint"
                )

    def _plan_referrals(self, first: int, last: int, p: np.ndarray) -> None:
        inst, rng = self.city.institutions, self.rng
        rate = cfg.REFERRAL_BASE_RATE + cfg.REFERRAL_PROPENSITY_RATE * p
        for i in np.repeat(np.arange(len(inst)), rng.poisson(rate)):
            day = int(rng.integers(first, last + 1))
            if inst.designated[i] > day or self.terminated_on[i] <= day:
                continue
            d = int(rng.choice(len(cfg.REFERRAL_DEPARTMENTS), p=cfg.REFERRAL_DEPARTMENT_WEIGHTS))
            department, categories = cfg.REFERRAL_DEPARTMENTS[d]
            self.records.add_referral(i, day, department, str(rng.choice(categories)))
            source = "audit" if department == "audit" else "referral"
            self._schedule(
                _working_day(day + int(rng.integers(10, 40))),
                "inspection",
                i,
                kind="targeted",
                source=source,
                lead=f"referral from {department}",
            )

    def _plan_targeted(self, month_index: int) -> None:
        """Targeted inspections on the quarter's strongest leads (selective by design, domain §8)."""
        rng, n = self.rng, len(self.city.institutions)
        months = slice(max(0, month_index - 2), month_index + 1)
        claims = self.claims[:, months].sum(axis=1)
        flag_ratio = np.log((self.flags[:, months].sum(axis=1) + 1) / (0.025 * claims + 1))
        end_of_quarter = int(self.month_start[month_index + 1] - 1)
        recent = np.array([sum(1 for d in days if end_of_quarter - d < 365) for days in self.violation_days])
        complaints = self.records.substantiated_complaints_since(end_of_quarter - 180, n)
        score = flag_ratio + 0.6 * np.minimum(recent, 3) + 1.2 * complaints + rng.normal(0, 0.5, n)
        eligible = self._eligible(end_of_quarter) & (end_of_quarter - self.last_targeted > 180) & (claims > 0)
        score[~eligible] = -np.inf
        k = min(int(eligible.sum()), int(np.floor(n * cfg.TARGETED_SHARE_PER_QUARTER + rng.random())))
        for i in np.argsort(-score, kind="stable")[:k]:
            self.last_targeted[i] = end_of_quarter
            self._schedule(
                _working_day(end_of_quarter + int(rng.integers(5, 50))),
                "inspection",
                i,
                kind="targeted",
                lead="risk leads: audit flags, complaints, past violations",
            )

    # ---- inspections ----------------------------------------------------------------------------
    def _draw_team(self, i: int, day: int, kind: str) -> list[int]:
        """At least two certified inspectors of the right jurisdiction, none with a conflict."""
        ins, rng = self.city.inspectors, self.rng
        county = self.city.institutions.county[i]
        scope = {
            "flying": ins.county == -2,
            "cross": (ins.county >= 0) & (ins.county != county),
            "special": (ins.county == -1) | (ins.county == county),
        }.get(kind, ins.county == county)
        usable = ins.certified & (ins.left_on > day)
        candidates = [j for j in np.flatnonzero(scope & usable) if i not in ins.conflicts[j]]
        if len(candidates) < 2:
            candidates = [j for j in np.flatnonzero(usable & (ins.county < 0)) if i not in ins.conflicts[j]]
        size = 3 if rng.random() < 0.2 else 2
        return [int(j) for j in rng.choice(candidates, size=min(size, len(candidates)), replace=False)]

    def _team_for(self, event: Event) -> list[int]:
        home = self.home_team[event.inst]
        ins = self.city.inspectors
        if (
            event.kind == "routine"
            and self.rng.random() < cfg.ROUTINE_HOME_TEAM
            and all(ins.left_on[j] > event.day for j in home)
        ):
            return home
        return self._draw_team(event.inst, event.day, event.kind)

    def _window(self, day: int) -> slice:
        m = self.month_of(day)
        return self._ledger_months(m - 11, m)

    def _window_claims(self, i: int, months: slice) -> int:
        """Claims of institution i in ledger months ``months`` (months before the data repeat the first)."""
        first, stop = months.start - PRIOR_MONTHS, months.stop - PRIOR_MONTHS
        before = max(0, -first)
        return int(self.claims[i, max(first, 0) : max(stop, 0)].sum() + before * self.claims[i, 0])

    def detection_chances(self, i: int, months: slice, strength: float) -> np.ndarray:
        """Chance of uncovering each pattern: records reviewed × share abusive × strength (config)."""
        count = np.floor(self.remaining_count[i, months].sum(axis=0))
        amount = self.remaining_amount[i, months].sum(axis=0)
        chance = detection_chance(strength, max(self._window_claims(i, months), 1), count)
        return np.where(amount >= 100, chance, 0.0)

    def _detect(self, i: int, months: slice, strength: float) -> list[tuple[int, int, int]]:
        """(pattern, amount found, true amount) for each kind of abuse the inspectors uncover."""
        amount = self.remaining_amount[i, months].sum(axis=0)
        chance = self.detection_chances(i, months, strength)
        found = []
        for k in np.flatnonzero(self.rng.random(_N_PATTERNS) < chance):
            share = self.rng.uniform(*cfg.FOUND_SHARE_RANGE)
            self.remaining_count[i, months, k] *= 1 - share
            self.remaining_amount[i, months, k] *= 1 - share
            found.append((int(k), max(100, int(np.rint(amount[k] * share))), int(np.rint(amount[k]))))
        return found

    def _inspect(self, event: Event) -> None:
        i, day, rng = event.inst, event.day, self.rng
        inst = self.city.institutions
        if inst.designated[i] > day or self.terminated_on[i] <= day:
            return
        team = self._team_for(event)
        months = self._window(day)
        strength = float(
            sigmoid(cfg.DETECTION_LOGIT[event.kind] + self.city.inspectors.skill[team].mean() + rng.normal(0, 0.3))
        )
        true_amount = int(self.remaining_amount[i, months].sum())
        probability = float(1 - np.prod(1 - self.detection_chances(i, months, strength)))
        found = _merge_minor_findings(self._detect(i, months, strength))
        inspection_id = self.records.add_inspection(
            rng,
            i,
            day,
            event.kind,
            team,
            event.draw_id,
            strength=strength,
            true_amount=true_amount,
            probability=probability,
            lead=event.lead,
        )
        source = event.source or cfg.INSPECTION_SOURCE[event.kind]
        found_day = min(day + int(rng.integers(0, 11)), self.city.end_day)
        for pattern, amount, truth in found:
            self._violation(i, found_day, source, inspection_id, pattern, amount, truth)
        if event.complaint is not None:
            close = day + int(rng.integers(5, 21))
            if close <= self.city.end_day:
                self.records.close_complaint(event.complaint, close, bool(found))

    # ---- other sources of violations ------------------------------------------------------------
    def _smart_audit(self, month_index: int) -> None:
        """Data review of the quarter's flagged claims; a few per cent are confirmed (Cangyuan: 3.6 %)."""
        rng, inst = self.rng, self.city.institutions
        months = self._ledger_months(month_index - 2, month_index)
        quarter_end = int(self.month_start[month_index + 1] - 1)
        for i in range(len(inst)):
            count = self.remaining_count[i, months, _VISIBLE].sum(axis=0)
            if count.sum() < 1:
                continue
            confirmed = rng.binomial(np.floor(count).astype(np.int64), cfg.SMART_AUDIT_CONFIRM_RATE)
            if confirmed.sum() == 0:
                continue
            k = _VISIBLE[int(np.argmax(confirmed))]
            share = min(1.0, confirmed.sum() / max(count.sum(), 1))
            amount = self.remaining_amount[i, months, k].sum()
            found_day = quarter_end + int(rng.integers(5, 41))
            if amount * share < 100 or found_day > self.city.end_day:
                continue
            self.remaining_count[i, months, k] *= 1 - share
            self.remaining_amount[i, months, k] *= 1 - share
            self._violation(i, found_day, "smart_audit", None, k, int(np.rint(amount * share)), int(np.rint(amount)))

    def _self_inspection_campaign(self, month_index: int) -> None:
        """Mid-year self-inspection of January–June; honest institutions report and refund."""
        rng, inst = self.rng, self.city.institutions
        months = self._ledger_months(month_index - 5, month_index)
        period = (int(self.month_start[month_index - 5]), int(self.month_start[month_index + 1] - 1))
        for i in np.flatnonzero(self._eligible(period[0]) & (rng.random(len(inst)) < cfg.SELF_INSPECTION_SUBMIT)):
            amount = self.remaining_amount[i, months].sum(axis=0)
            problems = np.flatnonzero(amount >= 100)
            honest = rng.random() < sigmoid(inst.honesty[i])
            reported, refunded = 0, 0
            if honest and len(problems):
                share = rng.uniform(0.3, 0.9)
                refunded = int(np.rint(amount[problems].sum() * share))
                reported = len(problems) + int(rng.poisson(1.0))
                self.remaining_count[i, months] *= 1 - share
                self.remaining_amount[i, months] *= 1 - share
            submitted = period[1] + int(rng.integers(1, 50))
            report = self.records.add_self_inspection(
                i, period, submitted, reported, refunded, honest=honest, true_amount=int(np.rint(amount.sum()))
            )
            verify = cfg.SELF_INSPECTION_VERIFY_RANDOM + (cfg.SELF_INSPECTION_VERIFY_NO_PROBLEM if reported == 0 else 0)
            if rng.random() < verify:
                self._schedule(submitted + int(rng.integers(20, 90)), "verify", i, report=report)

    def _verify_self_inspection(self, event: Event) -> None:
        i, rng = event.inst, self.rng
        if self.terminated_on[i] <= event.day:
            return
        start, end = self.records.self_inspection_period(event.report)
        months = self._ledger_months(self.month_of(start), self.month_of(end))
        strength = float(sigmoid(cfg.DETECTION_LOGIT["self_inspection"] + rng.normal(0, 0.3)))
        found = self._detect(i, months, strength)
        problems = sum(int(rng.integers(1, 4)) for _ in found)
        self.records.verify_self_inspection(event.report, event.day, problems, sum(a for _, a, _ in found))
        for pattern, amount, truth in found:
            self._violation(i, event.day, "self_inspection", None, pattern, amount, truth)

    # ---- decisions ------------------------------------------------------------------------------
    def _violation(
        self,
        i: int,
        found_day: int,
        source: str,
        inspection_id: str | None,
        pattern: int,
        amount: int,
        true_amount: int,
    ) -> None:
        inst, end = self.city.institutions, self.city.end_day
        prior = sum(1 for d in self.violation_days[i] if found_day - d < 730)
        decision = decide(
            self.rng,
            pattern=pattern,
            kind=int(inst.kind[i]),
            essential=self._essential(i),
            amount_cents=amount,
            billing_share=self._billing_share(i, found_day, amount),
            propensity=float(sigmoid(self.logit[i, min(self.month_of(found_day) // 12, self.years - 1)])),
            prior_violations=prior,
            found_day=found_day,
            end_day=end,
        )
        staff = self._responsible_staff(i, pattern, decision)
        self.records.add_violation(
            i, found_day, source, inspection_id, amount, decision, staff, pattern=pattern, true_amount=true_amount
        )
        if decision.status != "overturned":
            self.violation_days[i].append(found_day)
        if decision.decision_day is not None and decision.status != "overturned":
            self._apply(i, decision, staff)

    def _billing_share(self, i: int, day: int, amount: int) -> float:
        """``amount`` (cents) as a share of the institution's fund income over the 12 months to ``day``."""
        m = min(self.month_of(day), self.revenue.shape[1] - 1)
        months = self.revenue[i, max(0, m - 11) : m + 1]
        observed = months[months > 0]
        yearly = observed.mean() * 12 if len(observed) else 0.0
        return float(amount / yearly) if yearly > 0 else 0.0

    def _essential(self, i: int) -> bool:
        inst = self.city.institutions
        return bool(inst.has_beds[i] and (inst.level[i] >= 2 or inst.public[i]))

    def _responsible_staff(self, i: int, pattern: int, decision: Decision) -> list[int]:
        staff, rng = self.city.staff, self.rng
        if decision.lenient and rng.random() < 0.5:
            return []
        culprits = list(staff.culprits[i]) if pattern != cfg.HIDDEN else []
        if not culprits or rng.random() < 0.3:
            members = np.flatnonzero(staff.institution == i) if not culprits else []
            if len(members):
                culprits.append(int(rng.choice(members)))
        return sorted(set(int(s) for s in culprits))[:3]

    def _apply(self, i: int, decision: Decision, staff: list[int]) -> None:
        """Consequences of a decision: deterrence, agreement status, staff points."""
        day, rng = decision.decision_day, self.rng
        self.deterrence[i] += cfg.DETERRENCE_BY_RANK[RANK[decision.disposition]]
        terminates = decision.disposition == "agreement_termination" or (
            decision.disposition == "police_referral" and not self._essential(i) and rng.random() < 0.7
        )
        if terminates:
            self.terminated_on[i] = min(self.terminated_on[i], day)
        elif decision.disposition == "agreement_suspension" and not (
            self.suspended_from[i] <= day < self.suspended_until[i]
        ):
            self.suspended_from[i] = day
            self.suspended_until[i] = day + int(rng.integers(90, 181))
        year = self.month_of(day) // 12
        light = self.light_dispositions.get((i, year), 0) + (
            decision.disposition in ("interview", "refusal", "recovery")
        )
        self.light_dispositions[(i, year)] = light
        points = cfg.POINTS_BY_DISPOSITION.get(decision.disposition)
        if points is None and light == 3 and decision.disposition in ("interview", "refusal", "recovery"):
            points = (1, 3)
        if points is not None:
            self.records.score_staff(rng, i, staff, day, points)
        if decision.disposition == "staff_suspension":
            self.records.suspend_staff(staff, day + int(rng.integers(90, 181)))


def _merge_minor_findings(found: list[tuple[int, int, int]], keep: int = 3) -> list[tuple[int, int, int]]:
    """One visit yields at most `keep` violation records; smaller findings join the largest one."""
    if len(found) <= keep:
        return found
    found = sorted(found, key=lambda f: (-f[1], f[0]))
    extra_found = sum(f[1] for f in found[keep:])
    extra_true = sum(f[2] for f in found[keep:])
    head = found[0]
    return [(head[0], head[1] + extra_found, head[2] + extra_true), *found[1:keep]]


def _working_day(day: int) -> int:
    """The next Monday–Friday on or after `day`."""
    return int(np.busday_offset(np.datetime64(int(day), "D"), 0, roll="forward").astype(np.int64))
