"""Simulate a city and import it, table by table: rows per second and peak memory for each.

    python benchmarks/import_bench.py                      # 500 and 5,000 institutions, 4 years
    python benchmarks/import_bench.py --sizes 500 --work /tmp/bench

Each table is imported in a fresh child process (in contract order, into one store), so the peak
resident memory printed is that table's own. Simulation time and memory are printed too.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import shutil
import time
from pathlib import Path

from features.contract import IMPORT_ORDER


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _simulate(out: Path, n: int, years: int, queue: mp.Queue) -> None:
    from features.simulate import simulate_city

    start = time.perf_counter()
    summary = simulate_city(out, n_institutions=n, years=years, seed=1, claim_items=n <= 1000)
    queue.put((time.perf_counter() - start, _peak_rss_mib(), dict(summary.rows)))


def _import(files: list[str], url: str, data_dir: str, queue: mp.Queue) -> None:
    import os

    os.environ["MEDCREDIT_DATA_DIR"] = data_dir
    from features import import_paths, open_store

    engine = open_store(url)
    start = time.perf_counter()
    report = import_paths(files, engine=engine)
    queue.put((time.perf_counter() - start, _peak_rss_mib(), report.rows_written))


def _in_child(target, *args):
    queue: mp.Queue = mp.get_context("spawn").Queue()
    process = mp.get_context("spawn").Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    if process.exitcode:
        raise SystemExit(f"{target.__name__} failed with exit code {process.exitcode}")
    return result


def files_by_table(data_dir: Path) -> dict[str, list[str]]:
    from features.reading import detect_table, discover_files

    grouped: dict[str, list[str]] = {}
    for path in discover_files([data_dir]):
        table = detect_table(path)
        if table is not None:
            grouped.setdefault(table.name, []).append(str(path))
    return grouped


def run(n: int, years: int, work: Path) -> None:
    city = work / f"city-{n}"
    store = work / f"store-{n}"
    for path in (city, store):
        shutil.rmtree(path, ignore_errors=True)
    store.mkdir(parents=True)
    seconds, rss, rows = _in_child(_simulate, city, n, years)
    total = sum(rows.values())
    print(f"\n== {n:,} institutions × {years} years ==")
    print(f"simulate: {total:,} rows in {seconds:.1f} s ({total / seconds:,.0f} rows/s), peak {rss:,.0f} MiB")
    print(f"{'table':<18}{'rows':>12}{'seconds':>10}{'rows/s':>12}{'peak MiB':>10}")
    url = f"sqlite:///{store / 'medcredit.db'}"
    grouped = files_by_table(city / "data")
    for table in IMPORT_ORDER:
        if table not in grouped:
            continue
        seconds, rss, written = _in_child(_import, grouped[table], url, str(store))
        print(f"{table:<18}{written:>12,}{seconds:>10.2f}{written / max(seconds, 1e-9):>12,.0f}{rss:>10,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 5000])
    parser.add_argument("--years", type=int, default=4)
    parser.add_argument("--work", type=Path, default=Path("/tmp/medcredit-import-bench"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    for n in args.sizes:
        run(n, args.years, args.work)


if __name__ == "__main__":
    main()
