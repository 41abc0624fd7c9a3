"""Benchmark: GET one institution's grade under gunicorn, on loopback, with a bounded load.

1. Build a store (a simulated city imported and graded), unless --database-url names one.
2. Start ``medcredit serve`` (gunicorn, threaded workers) on 127.0.0.1 and a free port.
3. Paced phase: a fixed request rate (default 500/s) for a fixed time from a pool of threads with
   keep-alive connections; latency is measured from each request's scheduled time, so a server
   that falls behind is charged for the wait (no coordinated omission).
4. Saturation phase (when Debian's ``wrk`` is installed): as fast as 8 connections allow, fixed time.
5. Print requests/s and p50/p90/p99 latency of each phase, then stop the server.

Usage: python benchmarks/api_bench.py [--institutions 500] [--rate 500] [--seconds 15] [--workers 4]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_store(folder: Path, institutions: int) -> str:
    """A simulated city imported and graded twice; returns the database URL."""
    from features import import_paths, open_store
    from features.simulate import simulate_city
    from scoring import credit_store

    summary = simulate_city(
        folder / "city", n_institutions=institutions, years=2, seed=11, claims_per_institution_year=5, claim_items=False
    )
    url = f"sqlite:///{folder / 'medcredit.db'}"
    engine = open_store(url)
    import_paths(sorted(summary.data_dir.glob("*.csv")), engine=engine, actor="benchmark")
    credit_store.run_evaluation(engine, "2023-06-30", "national-100", actor="benchmark")
    credit_store.run_evaluation(engine, "2023-12-31", "national-100", actor="benchmark")
    engine.dispose()
    return url


def make_token(url: str) -> tuple[str, str]:
    """An admin token and one graded institution's code."""
    from api.auth import create_token
    from features import open_store
    from scoring import credit_store

    engine = open_store(url)
    secret = create_token(engine, name="benchmark", role="admin", regions="all").secret
    code = str(credit_store.latest_results(engine)["institution_code"].iloc[0])
    engine.dispose()
    return secret, code


def start_server(url: str, data_dir: Path, port: int, workers: int, threads: int) -> subprocess.Popen:
    medcredit = shutil.which("medcredit") or str(Path(sys.executable).parent / "medcredit")
    env = {**os.environ, "MEDCREDIT_DATABASE_URL": url, "MEDCREDIT_DATA_DIR": str(data_dir)}
    command = [
        medcredit,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--threads",
        str(threads),
    ]
    server = subprocess.Popen(command, env=env, start_new_session=True, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/api/v1/health")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    stop_server(server)
    raise RuntimeError("the server did not answer /api/v1/health within 60 s")


def stop_server(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)  # the server's own process group only
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def paced(port: int, path: str, token: str, rate: float, seconds: float, threads: int) -> dict:
    """``rate`` requests/s for ``seconds`` from ``threads`` keep-alive connections."""
    total = int(rate * seconds)
    interval = threads / rate
    start = time.perf_counter() + 0.2
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads

    def worker(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Authorization": f"Bearer {token}"}
        for k in range(index, total, threads):
            scheduled = start + (k // threads) * interval + (index / rate)
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    errors[index] += 1
            except (OSError, http.client.HTTPException):
                errors[index] += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            latencies[index].append(time.perf_counter() - scheduled)
        connection.close()

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - start
    values = np.array([v for part in latencies for v in part]) * 1000
    return {
        "requests": int(values.size),
        "errors": sum(errors),
        "seconds": round(elapsed, 2),
        "requests_per_s": round(values.size / elapsed, 1),
        "p50_ms": round(float(np.percentile(values, 50)), 2),
        "p90_ms": round(float(np.percentile(values, 90)), 2),
        "p99_ms": round(float(np.percentile(values, 99)), 2),
        "max_ms": round(float(values.max()), 2),
    }


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def saturate(port: int, path: str, token: str, seconds: int, connections: int) -> dict | None:
    """Closed loop with wrk (Debian package), when installed."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    command = [
        wrk,
        "-t2",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-H",
        f"Authorization: Bearer {token}",
        f"http://127.0.0.1:{port}{path}",
    ]
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    percentiles = dict(re.findall(r"^\s+(\d+)%\s+(\S+)$", output, re.M))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "connections": connections,
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": round(_ms(percentiles["50"]), 2),
        "p90_ms": round(_ms(percentiles["90"]), 2),
        "p99_ms": round(_ms(percentiles["99"]), 2),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--institutions", type=int, default=500)
    parser.add_argument("--database-url", help="Benchmark an existing store instead of a simulated one.")
    parser.add_argument("--rate", type=float, default=500.0, help="Paced phase: requests per second.")
    parser.add_argument("--seconds", type=float, default=15.0, help="Length of each phase.")
    parser.add_argument("--client-threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2, help="Threads per gunicorn worker.")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections in the saturation phase.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="medcredit-bench-") as tmp:
        folder = Path(tmp)
        os.environ["MEDCREDIT_DATA_DIR"] = str(folder / "data")
        began = time.perf_counter()
        url = args.database_url or build_store(folder, args.institutions)
        token, code = make_token(url)
        print(f"store ready in {time.perf_counter() - began:.1f} s ({url})", file=sys.stderr)
        port = _free_port()
        server = start_server(url, folder / "data", port, args.workers, args.threads)
        path = f"/api/v1/institutions/{code}/grade"
        try:
            paced(port, path, token, min(args.rate, 200), 2, args.client_threads)  # warm every worker
            result = {
                "endpoint": f"GET {path}",
                "server": f"gunicorn gthread, {args.workers} workers x {args.threads} threads, 127.0.0.1",
                "cpus": os.cpu_count(),
                "paced": paced(port, path, token, args.rate, args.seconds, args.client_threads),
                "saturation_wrk": saturate(port, path, token, int(args.seconds), args.connections),
            }
        finally:
            stop_server(server)
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
