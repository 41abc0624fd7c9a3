"""Formatting and writing of simulated tables: codes, dates, money, CSV and Parquet files.

Dates are handled as integer days since 1970-01-01 and money as integer cents until the moment a
file is written, so that every written value is exact and the same seed gives byte-identical files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

_DIGITS = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)
NO_DATE = np.iinfo(np.int32).max  # "never" for death and status dates


def day_number(date: str) -> int:
    """Days since 1970-01-01 of an ISO date."""
    return int(np.datetime64(date, "D").astype(np.int64))


def iso_dates(days: np.ndarray) -> np.ndarray:
    """ISO strings for day numbers; days < 0 or NO_DATE become empty strings."""
    days = np.asarray(days, dtype=np.int64)
    missing = (days < 0) | (days >= NO_DATE)
    text = np.where(missing, 0, days).astype("datetime64[D]").astype(str).astype(object)
    text[missing] = ""
    return text


def money_text(cents: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray:
    """'1234.50' strings for integer cents (empty where missing)."""
    cents = np.asarray(cents, dtype=np.int64)
    text = np.char.add(
        np.char.add((cents // 100).astype(str), "."), np.char.zfill((cents % 100).astype(str), 2)
    ).astype(object)
    if missing is not None:
        text[missing] = ""
    return text


def bool_text(values: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray:
    text = np.where(np.asarray(values, dtype=bool), "true", "false").astype(object)
    if missing is not None:
        text[missing] = ""
    return text


def int_text(values: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray:
    text = np.asarray(values, dtype=np.int64).astype(str).astype(object)
    if missing is not None:
        text[missing] = ""
    return text


def fixed_codes(prefix: str, numbers: np.ndarray, width: int, base: int = 10) -> np.ndarray:
    """Codes made of a prefix and `numbers` written with `width` digits, as a bytes array."""
    numbers = np.asarray(numbers, dtype=np.uint64)
    powers = np.uint64(base) ** np.arange(width - 1, -1, -1, dtype=np.uint64)
    digits = _DIGITS[((numbers[:, None] // powers) % np.uint64(base)).astype(np.intp)]
    head = np.broadcast_to(np.frombuffer(prefix.encode(), dtype=np.uint8), (len(numbers), len(prefix)))
    raw = np.ascontiguousarray(np.concatenate([head, digits], axis=1))
    return raw.view(f"S{len(prefix) + width}").ravel()


def as_arrow_strings(codes: np.ndarray) -> pa.Array:
    """A pyarrow string array from a numpy bytes array."""
    return pa.array(codes, type=pa.binary()).cast(pa.string())


def arrow_dates(days: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32), type=pa.int32(), mask=missing).cast(pa.date32())


def arrow_money(cents: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(cents, dtype=np.int64) / 100.0, type=pa.float64(), mask=missing)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """UTF-8 CSV, '\\n' line ends, empty string for missing values."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n", na_rep="")


def write_parquet(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd", use_dictionary=True, write_statistics=True)
