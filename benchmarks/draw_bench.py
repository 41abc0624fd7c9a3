"""Time a random draw with inspector assignment: 50,000 institutions and 2,000 inspectors by default.

    python benchmarks/draw_bench.py                       # in memory, best of 3
    python benchmarks/draw_bench.py --repeat 5 --store    # also freeze_draw / enter_seed_and_draw on SQLite
    python benchmarks/draw_bench.py --institutions 200000 --inspectors 8000 --regions 200

The synthetic city has ``--regions`` counties of equal size, grades A 40 %, B 35 %, C 15 %,
D 8 %, E 2 %, two years of inspection history (so the routine cap, same-item rule and recent-
inspection recusals all have work to do) and 1 % of inspectors with a declared conflict.
Steps timed (best of ``--repeat``, each run from the same inputs):

1. pool    — build_eligible_pool (exclusions with reasons) and build_inspector_pool (recusals);
2. freeze  — freeze_pool: pool document, team feasibility of every institution, SHA-256;
3. draw    — draw_random_inspections: tickets, stratified selection and team assignment;
4. verify  — verify_draw.verify on the JSON round trip of the draw document (what a citizen runs).

``--store`` adds the stored path on a fresh SQLite file: freeze_draw (loads the tables, freezes,
stores pool and units) and enter_seed_and_draw (draws and stores units, teams and document).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from scoring import verify_draw
from scoring.assignment import build_inspector_pool
from scoring.draws import DrawDesign, PoolRules, Seed, build_eligible_pool, draw_random_inspections, freeze_pool

AS_OF = pd.Timestamp("2025-06-30")
ITEMS = ["YD01", "YD02", "YD03", "YD04", "GL01", "BL01", "SF01", "ZY01"]
SEED = Seed("dice", "31415926535897932384626433832795", "benchmark")


def synthetic_city(
    n_institutions: int, n_inspectors: int, n_regions: int, rng: np.random.Generator
) -> dict[str, pd.DataFrame]:
    """Contract-shaped institutions (with grades), inspectors and two years of inspections."""
    regions = np.array([f"4415{r:02d}" if r < 100 else f"44{r:04d}" for r in range(1, n_regions + 1)])
    region_of = regions[np.arange(n_institutions) % n_regions]
    codes = np.array([f"H{region}{i:05d}" for i, region in enumerate(region_of)])
    institutions = pd.DataFrame(
        {
            "institution_code": codes,
            "region_code": region_of,
            "status": np.where(rng.random(n_institutions) < 0.01, "suspended", "active"),
            "designated_since": pd.Timestamp("2018-01-01"),
            "grade": rng.choice(list("ABCDE"), n_institutions, p=[0.40, 0.35, 0.15, 0.08, 0.02]),
        }
    )
    inspector_region = regions[np.arange(n_inspectors) % n_regions]
    inspector_codes = np.array([f"ZF{region}{i:04d}" for i, region in enumerate(inspector_region)])
    conflicted = rng.random(n_inspectors) < 0.01
    inspectors = pd.DataFrame(
        {
            "inspector_code": inspector_codes,
            "region_code": inspector_region,
            "certified": rng.random(n_inspectors) < 0.8,
            "active": rng.random(n_inspectors) < 0.97,
            "conflicts": np.where(conflicted, rng.choice(codes, n_inspectors), None),
        }
    )
    inspectors[["certified", "active"]] = inspectors[["certified", "active"]].astype("boolean")
    return {
        "institutions": institutions,
        "inspectors": inspectors,
        "inspections": _history(institutions, inspectors, rng),
    }


def _history(institutions: pd.DataFrame, inspectors: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """About 1.2 inspections per institution over the two years before the draw date."""
    n = int(len(institutions) * 1.2)
    chosen = institutions.sample(n, replace=True, random_state=int(rng.integers(1 << 31)))
    by_region = inspectors.groupby("region_code")["inspector_code"].agg(list).to_dict()
    teams = [";".join(rng.choice(by_region[region], 2, replace=False)) for region in chosen["region_code"]]
    days = rng.integers(0, 730, n)
    return pd.DataFrame(
        {
            "inspection_id": [f"JC{i:08d}" for i in range(n)],
            "institution_code": chosen["institution_code"].to_numpy(),
            "start_date": AS_OF - pd.to_timedelta(days, unit="D"),
            "kind": rng.choice(
                ["routine", "random", "targeted", "special", "complaint"], n, p=[0.6, 0.1, 0.15, 0.1, 0.05]
            ),
            "level": rng.choice(["county", "city", "province"], n, p=[0.5, 0.4, 0.1]),
            "items": [";".join(sorted(rng.choice(ITEMS, 2, replace=False))) for _ in range(n)],
            "inspector_codes": teams,
            "found_violation": pd.array(rng.random(n) < 0.3, dtype="boolean"),
        }
    )


def best_of(repeat: int, step: Callable[[], object]) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = step()
        times.append(time.perf_counter() - start)
    return min(times), result


def bench_in_memory(city: dict[str, pd.DataFrame], regions: list[str], repeat: int) -> None:
    def pools():
        pool = build_eligible_pool(
            city["institutions"], city["inspections"], as_of=AS_OF, regions=regions, item="YD01", rules=PoolRules()
        )
        inspector_pool = build_inspector_pool(city["inspectors"], city["inspections"], as_of=AS_OF, regions=regions)
        return pool, inspector_pool

    t_pool, (pool, inspector_pool) = best_of(repeat, pools)
    t_freeze, frozen = best_of(repeat, lambda: freeze_pool(pool, DrawDesign.stratified(), inspectors=inspector_pool))
    t_draw, result = best_of(repeat, lambda: draw_random_inspections(frozen, SEED))
    published = json.loads(result.to_json())
    t_verify, verdict = best_of(repeat, lambda: verify_draw.verify(published))
    assert verdict.ok, verdict.discrepancy
    print(
        f"pool: {len(pool.eligible):,} eligible, {pool.excluded['institution_code'].nunique():,} excluded; "
        f"{len(inspector_pool.available):,} inspectors available, {len(inspector_pool.recusals):,} recusal pairs"
    )
    print(
        f"draw: {len(result.selected):,} institutions drawn, {len(result.assignments):,} teams; "
        f"pool_hash {frozen.pool_hash[:16]}…"
    )
    print(f"{'step':<42}{'best (s)':>10}")
    for name, seconds in [
        ("1. eligible + inspector pools", t_pool),
        ("2. freeze (document, feasibility, hash)", t_freeze),
        ("3. draw + assign teams", t_draw),
        ("4. verify (standalone verifier)", t_verify),
    ]:
        print(f"{name:<42}{seconds:>10.3f}")
    print(f"{'total 1-3: pool → freeze → draw (service)':<42}{t_pool + t_freeze + t_draw:>10.3f}")
    print(f"{'total 1-4: with verification':<42}{t_pool + t_freeze + t_draw + t_verify:>10.3f}")


def bench_store(city: dict[str, pd.DataFrame], regions: list[str]) -> None:
    """One freeze and one draw through the store (SQLite in a temporary folder), tables imported first."""
    from features import import_paths, open_store
    from scoring import selection_store

    with tempfile.TemporaryDirectory() as folder:
        os.environ["MEDCREDIT_DATA_DIR"] = folder
        engine = open_store(f"sqlite:///{folder}/bench.db")
        data = Path(folder) / "data"
        data.mkdir()
        institutions = (
            city["institutions"]
            .assign(name=lambda f: f["institution_code"], kind="hospital", ownership="public")
            .drop(columns="grade")
        )
        institutions.to_csv(data / "institutions.csv", index=False)
        city["inspectors"].assign(name=lambda f: f["inspector_code"]).to_csv(data / "inspectors.csv", index=False)
        city["inspections"].to_csv(data / "inspections.csv", index=False)
        start = time.perf_counter()
        import_paths([data], engine=engine)
        print(f"{'(import of the synthetic tables)':<42}{time.perf_counter() - start:>10.3f}")
        grades = city["institutions"][["institution_code", "grade"]]
        start = time.perf_counter()
        frozen = selection_store.freeze_draw(
            engine, as_of=AS_OF, regions=regions, item="YD01", grades=grades, actor="bench"
        )
        t_freeze = time.perf_counter() - start
        start = time.perf_counter()
        draw = selection_store.enter_seed_and_draw(engine, frozen.draw_id, SEED, "bench")
        t_draw = time.perf_counter() - start
        start = time.perf_counter()
        verdict = selection_store.verify_stored_draw(engine, draw.draw_id)
        t_verify = time.perf_counter() - start
        assert verdict.ok, verdict.discrepancy
        print(f"{'freeze_draw (load, freeze, store)':<42}{t_freeze:>10.3f}")
        print(f"{'enter_seed_and_draw (draw, store)':<42}{t_draw:>10.3f}")
        print(f"{'verify_stored_draw':<42}{t_verify:>10.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--institutions", type=int, default=50_000)
    parser.add_argument("--inspectors", type=int, default=2_000)
    parser.add_argument("--regions", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3, help="Runs per step; the best is printed.")
    parser.add_argument("--store", action="store_true", help="Also time the stored path on SQLite.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the synthetic city.")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    city = synthetic_city(args.institutions, args.inspectors, args.regions, rng)
    regions = sorted(city["institutions"]["region_code"].unique())
    print(
        f"synthetic city: {args.institutions:,} institutions, {args.inspectors:,} inspectors, {len(regions)} regions, "
        f"{len(city['inspections']):,} past inspections (built in {time.perf_counter() - start:.1f} s)"
    )
    bench_in_memory(city, regions, args.repeat)
    if args.store:
        bench_store(city, regions)


if __name__ == "__main__":
    main()
