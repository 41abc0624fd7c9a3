"""Month claims as contract tables: claims, claim items (fee lines) and claim-level ground truth."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from features import _simulate_config as cfg
from features._simulate_city import City
from features._simulate_claims import DIAGNOSIS_CODES, ClaimBatch
from features._simulate_output import arrow_dates, arrow_money, as_arrow_strings, fixed_codes

_DIAGNOSES = pa.array(DIAGNOSIS_CODES, type=pa.string())
_VISITS = pa.array(cfg.VISIT_TYPES, type=pa.string())
_PATTERNS = pa.array(cfg.PATTERNS, type=pa.string())
_ITEM_TYPES = ("drug", "service", "material")
_DRUG, _SERVICE, _MATERIAL = range(3)
# Expected extra lines (beyond the first) per part and visit type.
_EXTRA_LINES = {
    "drug": (1.2, 6.0, 1.5, 0.6),
    "exam": (0.5, 4.0, 0.3, 0.0),
    "material": (0.2, 1.5, 0.1, 0.0),
    "service": (0.3, 3.0, 0.2, 0.0),
}
_PART_ITEM_TYPE = {"drug": _DRUG, "exam": _SERVICE, "material": _MATERIAL, "service": _SERVICE, "other": _SERVICE}


def claim_ids(year: int, month: int, n: int) -> np.ndarray:
    return fixed_codes(f"C{year}{month:02d}", np.arange(1, n + 1), 8)


def _take(values: pa.Array, index: np.ndarray) -> pa.Array:
    return values.take(pa.array(index, type=pa.int64(), mask=index < 0))


def claims_table(city: City, batch: ClaimBatch, ids: np.ndarray) -> pa.Table:
    pool = city.patients
    patient = batch["patient"]
    codes = pa.array(city.institutions.code.tolist(), type=pa.string())
    staff = pa.array(city.staff.code.tolist(), type=pa.string())
    return pa.table(
        {
            "claim_id": as_arrow_strings(ids),
            "institution_code": _take(codes, batch["inst"]),
            "patient_id": _take(pool.ids, patient),
            "visit_type": _take(_VISITS, batch["visit"]),
            "admit_date": arrow_dates(batch["admit"]),
            "discharge_date": arrow_dates(np.maximum(batch["discharge"], 0), missing=batch["discharge"] < 0),
            "settle_date": arrow_dates(batch["settle"]),
            "diagnosis_code": _take(_DIAGNOSES, batch["diag"]),
            "emergency": pa.array(batch["emergency"], type=pa.bool_()),
            "total_amount": arrow_money(batch["total"]),
            "fund_amount": arrow_money(batch["fund"]),
            "drug_amount": arrow_money(batch["drug"]),
            "exam_amount": arrow_money(batch["exam"]),
            "material_amount": arrow_money(batch["material"]),
            "service_amount": arrow_money(batch["service"]),
            "days_supply": pa.array(batch["days_supply"], type=pa.int64(), mask=batch["days_supply"] < 0),
            "doctor_code": _take(staff, batch["doctor"]),
            "patient_birth_year": pa.array(pool.birth_year[patient], type=pa.int64()),
            "patient_sex": pa.array(np.where(pool.male[patient], "M", "F"), type=pa.string()),
            "remote": pa.array(pool.remote[patient], type=pa.bool_()),
        }
    )


def claim_truth_table(city: City, batch: ClaimBatch, ids: np.ndarray) -> pa.Table:
    """Claims carrying a smart-audit signal, abusive or innocent, with the amount at stake."""
    rows = np.flatnonzero(batch["pattern"] >= 0)
    codes = pa.array(city.institutions.code.tolist(), type=pa.string())
    return pa.table(
        {
            "claim_id": as_arrow_strings(ids[rows]),
            "institution_code": _take(codes, batch["inst"][rows]),
            "pattern": _take(_PATTERNS, batch["pattern"][rows]),
            "abusive": pa.array(batch["abusive"][rows], type=pa.bool_()),
            "excess_amount": arrow_money(batch["excess"][rows]),
        }
    )


class ItemCatalog:
    """National codes of drugs, services and materials, with popularity weights."""

    def __init__(self, rng: np.random.Generator) -> None:
        letters = np.array(list("ABCDGHJLMNPRS"))
        self.codes = (
            np.array(
                [
                    f"X{a}{b}{rng.integers(10**9, 10**10)}{rng.integers(10**6, 10**7)}"
                    for a, b in zip(rng.choice(letters, 400), rng.choice(letters, 400), strict=False)
                ],
                dtype=object,
            ),
            np.array([f"00{rng.integers(10**12, 10**13)}" for _ in range(200)], dtype=object),
            np.array(
                [f"C{rng.integers(10**12, 10**13)}{rng.integers(10**6, 10**7)}" for _ in range(120)], dtype=object
            ),
        )
        self.weights = [1 / np.arange(1, len(c) + 1) ** 0.9 for c in self.codes]
        self.cumulative = [np.cumsum(w / w.sum()) for w in self.weights]
        self.other_fee_code = "001102000010000"  # bed / registration fees outside the four parts
        # every code; the last one is the fee outside the four parts
        self.all_codes = pa.array([*np.concatenate(self.codes).tolist(), self.other_fee_code], type=pa.string())

    def sample(self, rng: np.random.Generator, item_type: np.ndarray) -> np.ndarray:
        """Indices into `all_codes` for lines of the given item types."""
        index = np.zeros(len(item_type), dtype=np.int64)
        offsets = np.cumsum([0] + [len(c) for c in self.codes])
        for t in range(3):
            rows = np.flatnonzero(item_type == t)
            index[rows] = offsets[t] + np.minimum(
                np.searchsorted(self.cumulative[t], rng.random(len(rows))), len(self.codes[t]) - 1
            )
        return index


def claim_items_table(
    rng: np.random.Generator,
    catalog: ItemCatalog,
    batch: ClaimBatch,
    ids: np.ndarray,
    month_index: int,
    trace_key: tuple[int, int],
) -> pa.Table:
    """Fee lines whose amounts add up exactly to each claim's total."""
    lines = _line_amounts(rng, batch)
    claim, part, amount = lines["claim"], lines["part"], lines["amount"]
    order = np.lexsort((part, claim))
    claim, part, amount, dup = claim[order], part[order], amount[order], lines["duplicate"][order]
    item_type = np.asarray([_PART_ITEM_TYPE[p] for p in ("drug", "exam", "material", "service", "other")])[part]
    code = catalog.sample(rng, item_type)
    code[part == 4] = len(catalog.all_codes) - 1
    code[dup] = np.roll(code, 1)[dup]  # a duplicate line copies the line before it
    quantity = np.where((item_type == _DRUG) & ~dup & ~np.roll(dup, -1), rng.choice([1, 2, 3, 4, 6], len(claim)), 1)
    quantity = np.where(amount % quantity == 0, quantity, 1)
    inpatient = batch["visit"][claim] == cfg.INPATIENT
    stay = np.maximum(batch["discharge"][claim] - batch["admit"][claim], 0)
    item_date = batch["admit"][claim] + np.where(inpatient, (rng.random(len(claim)) * (stay + 1)).astype(np.int64), 0)
    item_date = np.where(dup, np.roll(item_date, 1), item_date)
    line_no = np.arange(len(claim)) - np.searchsorted(claim, claim, side="left") + 1
    return pa.table(
        {
            "claim_id": as_arrow_strings(ids[claim]),
            "line_no": pa.array(line_no, type=pa.int64()),
            "item_code": catalog.all_codes.take(pa.array(code)),
            "item_type": pa.array(np.asarray(_ITEM_TYPES, dtype=object)[item_type], type=pa.string()),
            "item_date": arrow_dates(item_date),
            "quantity": pa.array(quantity.astype(np.float64), type=pa.float64()),
            "unit_price": arrow_money(amount // quantity),
            "amount": arrow_money(amount),
            "trace_code": _trace_codes(rng, batch, claim, item_type, month_index, trace_key),
        }
    )


def _split(rng, owner: np.ndarray, total: np.ndarray, n_lines: np.ndarray):
    """Split each total into n_lines positive cents amounts (fewer lines for tiny totals)."""
    n_lines = np.minimum(n_lines, np.maximum(total // 100, 1))
    row = np.repeat(np.arange(len(total)), n_lines)
    weight = rng.gamma(2.0, 1.0, len(row))
    weight_sum = np.bincount(row, weights=weight, minlength=len(total))
    amount = np.floor(total[row] * weight / weight_sum[row]).astype(np.int64)
    last = np.cumsum(n_lines) - 1
    amount[last] += total - np.bincount(row, weights=amount, minlength=len(total)).astype(np.int64)
    good = amount > 0
    return owner[row][good], amount[good]


def _line_amounts(rng, batch: ClaimBatch) -> dict[str, np.ndarray]:
    claims, parts, amounts, duplicate = [], [], [], []
    visit = batch["visit"]
    dup_amount = batch["dup_amount"]
    for k, name in enumerate(("drug", "exam", "material", "service")):
        value = batch[name] - (2 * dup_amount if name == "service" else 0)
        rows = np.flatnonzero(value > 0)
        n_lines = 1 + rng.poisson(np.asarray(_EXTRA_LINES[name])[visit[rows]])
        owner, amount = _split(rng, rows, value[rows], n_lines)
        claims.append(owner), parts.append(np.full(len(owner), k)), amounts.append(amount)
        duplicate.append(np.zeros(len(owner), bool))
    other = batch["total"] - batch["drug"] - batch["exam"] - batch["material"] - batch["service"]
    rows = np.flatnonzero(other > 0)
    claims.append(rows), parts.append(np.full(len(rows), 4)), amounts.append(other[rows])
    duplicate.append(np.zeros(len(rows), bool))
    rows = np.flatnonzero(dup_amount > 0)  # the original line and its copy, adjacent, service part
    claims.append(np.repeat(rows, 2)), parts.append(np.full(2 * len(rows), 3))
    amounts.append(np.repeat(dup_amount[rows], 2))
    duplicate.append(np.tile([False, True], len(rows)))
    return {
        "claim": np.concatenate(claims),
        "part": np.concatenate(parts),
        "amount": np.concatenate(amounts),
        "duplicate": np.concatenate(duplicate),
    }


def _trace_codes(
    rng, batch: ClaimBatch, claim: np.ndarray, item_type: np.ndarray, month_index: int, trace_key: tuple[int, int]
) -> pa.Array:
    """A unique 20-digit trace code per drug line; resold drugs reuse a code settled earlier."""
    drug = np.flatnonzero(item_type == _DRUG)
    serial = np.uint64(month_index) * np.uint64(10**9) + np.arange(len(drug), dtype=np.uint64)
    multiplier, offset = trace_key
    number = (serial * np.uint64(multiplier) + np.uint64(offset)) % np.uint64(10**19)
    codes = fixed_codes("8", number, 19)
    first_line = np.ones(len(drug), dtype=bool)
    first_line[1:] = claim[drug][1:] != claim[drug][:-1]
    reuse = np.flatnonzero(first_line & batch["trace_reuse"][claim[drug]])
    if len(reuse):
        owner = batch["inst"][claim[drug]]
        by_owner = np.argsort(owner, kind="stable")
        start = np.searchsorted(owner[by_owner], owner[reuse], side="left")
        count = np.searchsorted(owner[by_owner], owner[reuse], side="right") - start
        donor = by_owner[start + (rng.random(len(reuse)) * count).astype(np.int64)]
        other = donor == reuse
        donor[other] = (donor[other] + 1) % len(drug)
        codes[reuse] = codes[donor]
    full = np.full(len(claim), -1, dtype=np.int64)
    full[drug] = np.arange(len(drug))
    return as_arrow_strings(codes).take(pa.array(full, mask=full < 0))
