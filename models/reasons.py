"""Why an institution scores as it does: the model's own contributions, told in plain sentences.

LightGBM's ``pred_contrib`` splits each raw score (log-odds) exactly into one part per feature plus
a constant. The features that push an institution's risk up the most are its reasons; each becomes
one sentence in Chinese and in English, naming the feature as the feature catalogue names it, the
institution's value and the typical value among the training rows. A feature missing from the
catalogue is named by its column name, never silently dropped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features._features_catalogue import PEER_EN_SUFFIX, PEER_ZH_SUFFIX

__all__ = ["CatalogueEntry", "catalogue_entries", "reason_sentences", "top_reasons"]


@dataclass(frozen=True)
class CatalogueEntry:
    """How one feature is named and shown: labels in both languages and a unit."""

    name: str
    label_zh: str
    label_en: str
    unit: str = ""

    @classmethod
    def fallback(cls, name: str) -> CatalogueEntry:
        return cls(name=name, label_zh=name, label_en=name, unit=_guess_unit(name))


_FIELD_ALIASES = {
    "name": ("name", "feature", "column"),
    "label_zh": ("label_zh", "zh", "name_zh", "title_zh", "chinese"),
    "label_en": ("label_en", "en", "name_en", "title_en", "english", "meaning", "description"),
    "unit": ("unit", "units", "kind", "type"),
}


def _field(record: Mapping[str, Any] | Any, field_name: str) -> Any:
    for alias in _FIELD_ALIASES[field_name]:
        value = record.get(alias) if isinstance(record, Mapping) else getattr(record, alias, None)
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            return value
    return None


def catalogue_entries(catalogue: Any) -> dict[str, CatalogueEntry]:
    """Feature name → entry, from a catalogue DataFrame, a mapping of name → record, or a list of records.

    Records may name their fields ``label_zh``/``zh``, ``label_en``/``en``, ``unit``; anything
    missing falls back to the feature name.
    """
    if catalogue is None:
        return {}
    if isinstance(catalogue, pd.DataFrame):
        records = catalogue.to_dict("records")
    elif isinstance(catalogue, Mapping):
        records = [
            {"name": key, **(value if isinstance(value, Mapping) else vars(value))}
            if isinstance(value, Mapping) or hasattr(value, "__dict__")
            else {"name": key, "label_zh": value}
            for key, value in catalogue.items()
        ]
    else:
        records = list(catalogue)
    entries = {}
    for record in records:
        name = _field(record, "name")
        if name is None:
            continue
        name = str(name)
        entries[name] = CatalogueEntry(
            name=name,
            label_zh=str(_field(record, "label_zh") or name),
            label_en=_with_window(str(_field(record, "label_en") or name), name),
            unit=str(_field(record, "unit") or _guess_unit(name)),
        )
    return entries


def _with_window(label: str, name: str) -> str:
    """The English label with the window the name encodes (the Chinese labels already say 近12个月)."""
    match = re.search(r"_(\d+)m(?:_pz)?$", name)
    if match and "month" not in label:
        return f"{label}, last {match.group(1)} months"
    if name.endswith("_ever") and "history" not in label:
        return f"{label}, all history"
    return label


def _guess_unit(name: str) -> str:
    """A unit from the feature's name, for catalogues that do not give one."""
    lowered = name.lower()
    if lowered.endswith("_pz"):
        return "z"
    if lowered.endswith("_trend"):  # slopes of monthly values (features.claim_features)
        if "per_visit" in lowered:
            return "yuan/month"
        return "relative/month" if lowered == "clm_claims_trend" else "share/month"
    if any(part in lowered for part in ("share", "rate", "ratio", "_to_")):
        return "share"
    if any(part in lowered for part in ("amount", "yuan", "fund", "cost", "refund")):
        return "yuan"
    if lowered.startswith("days") or "_days" in lowered:
        return "days"
    if re.search(r"(^|_)(n|count|events|received|substantiated|points)(_|$)", lowered):
        return "count"
    return ""


def _format(value: Any, unit: str, language: str) -> str:
    """A value as bureau staff would write it."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "无记录" if language == "zh" else "no record"
    if isinstance(value, str):
        return value
    number = float(value)
    unit = unit.lower()
    if unit in ("yuan", "money", "元"):
        return f"{number:,.0f} 元" if language == "zh" else f"¥{number:,.0f}"
    if unit in ("share", "ratio", "rate", "percent"):
        return f"{number:.1%}"
    if unit in ("days", "day", "天"):
        return f"{number:.0f} 天" if language == "zh" else f"{number:.0f} days"
    if unit == "z":
        return f"{number:+.1f} 个标准差（同类机构）" if language == "zh" else f"{number:+.1f} SD from peers"
    if unit == "share/month":
        points = number * 100
        return f"每月 {points:+.2f} 个百分点" if language == "zh" else f"{points:+.2f} percentage points a month"
    if unit == "relative/month":
        return f"每月 {number:+.1%}" if language == "zh" else f"{number:+.1%} a month"
    if unit == "yuan/month":
        return f"每月 {number:+,.0f} 元" if language == "zh" else f"{number:+,.0f} yuan a month"
    if unit in ("flag", "bool", "boolean"):
        return ("是" if number else "否") if language == "zh" else ("yes" if number else "no")
    if unit in ("count", "int", "次", "个") or number.is_integer():
        return f"{number:.0f}"
    return f"{number:.3g}"


def reason_sentences(
    entry: CatalogueEntry, value: Any, typical: Any, contribution: float, *, peer_z: Any = None
) -> tuple[str, str]:
    """One reason in Chinese and in English: the feature, its value, the typical value and the direction.

    A peer z-score is told as how far above (or below) its peer group the institution stands, the
    feature named as its base feature is (a typical z-score is 0 by construction, so it is not shown).
    ``peer_z``, the feature's own peer z-score, adds that distance to the sentence: a feature and its
    z-score say one thing, and make one reason.
    """
    raises = contribution > 0
    effect_zh = "推高了违规风险" if raises else "降低了违规风险"
    effect_en = "raises the risk of a violation" if raises else "lowers the risk of a violation"
    label_en = entry.label_en[:1].upper() + entry.label_en[1:]
    if re.search(r", (last \d+ months|all history)$", label_en):  # "…, last 12 months, is …"
        label_en += ","
    if entry.unit == "z" and _is_number(value):
        distance_zh, distance_en = _peer_distance(float(value))
        base_zh = entry.label_zh.replace(PEER_ZH_SUFFIX, "")
        base_en = label_en.replace(PEER_EN_SUFFIX, "")
        return f"「{base_zh}」{distance_zh}，{effect_zh}。", f"{base_en} is {distance_en}, which {effect_en}."
    text_zh = f"「{entry.label_zh}」为 {_format(value, entry.unit, 'zh')}"
    text_en = f"{label_en} is {_format(value, entry.unit, 'en')}"
    if not (typical is None or (isinstance(typical, float) and math.isnan(typical))):
        text_zh += f"（一般机构为 {_format(typical, entry.unit, 'zh')}）"
        text_en += f" (typical: {_format(typical, entry.unit, 'en')})"
    if _is_number(peer_z) and _is_number(value):
        distance_zh, distance_en = _peer_distance(float(peer_z))
        text_zh += f"，{distance_zh}"
        text_en += f", {distance_en}"
    return f"{text_zh}，{effect_zh}。", f"{text_en}, which {effect_en}."


def _peer_distance(z: float) -> tuple[str, str]:
    """How far from its peer group, in robust standard deviations, in Chinese and in English."""
    if z >= 0:
        return f"高于同类机构 {z:.1f} 个标准差", f"{z:.1f} SD above its peers"
    return f"低于同类机构 {-z:.1f} 个标准差", f"{-z:.1f} SD below its peers"


def _is_number(value: Any) -> bool:
    if value is None or value is pd.NA or isinstance(value, str | bool):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def top_reasons(
    contributions: pd.DataFrame,
    values: pd.DataFrame,
    *,
    keys: pd.DataFrame | None = None,
    catalogue: Any = None,
    typical: Mapping[str, Any] | None = None,
    top: int = 3,
    direction: str = "raises",
) -> pd.DataFrame:
    """The ``top`` features that raise (or, ``direction='lowers'``, lower) each row's risk the most.

    ``contributions`` and ``values`` are indexed alike, one column per feature (columns starting with
    ``_`` are ignored); ``keys`` (same index) supplies identifying columns copied to each reason.
    Returns one row per reason: keys, ``rank``, ``feature``, ``value``, ``contribution``,
    ``reason_zh``, ``reason_en``. Only contributions of the requested sign count. A feature and its
    peer z-score ``<feature>_pz`` make one reason (named by the feature, their contributions summed).
    """
    if direction not in ("raises", "lowers"):
        raise ValueError(f"direction must be one of ['raises', 'lowers']; got {direction!r}")
    if top < 1:
        raise ValueError(f"top must be at least 1; got {top}")
    features = [c for c in contributions.columns if not c.startswith("_")]
    entries = catalogue_entries(catalogue)
    typical = typical or {}
    # A feature and its peer z-score (``<name>_pz``) are one reason: their contributions add up.
    groups: dict[str, list[int]] = {}
    for position, name in enumerate(features):
        base = name[:-3] if name.endswith("_pz") and name[:-3] in features else name
        groups.setdefault(base, []).append(position)
    names = list(groups)
    membership = np.zeros((len(features), len(names)))
    for column, members in enumerate(groups.values()):
        membership[members, column] = 1.0
    raw = contributions[features].to_numpy(dtype="float64") @ membership
    signed = raw * (1 if direction == "raises" else -1)
    order = np.argsort(-signed, axis=1, kind="stable")[:, :top]
    rows = []
    for position, index in enumerate(contributions.index):
        for rank, column in enumerate(order[position], start=1):
            if signed[position, column] <= 0:
                break
            name = names[column]
            value = values.at[index, name]
            contribution = float(raw[position, column])
            entry = entries.get(name) or CatalogueEntry.fallback(name)
            peer_z = values.at[index, f"{name}_pz"] if len(groups[name]) > 1 else None
            zh, en = reason_sentences(entry, value, typical.get(name), contribution, peer_z=peer_z)
            row = {} if keys is None else keys.loc[index].to_dict()
            row.update(rank=rank, feature=name, value=value, contribution=contribution, reason_zh=zh, reason_en=en)
            rows.append(row)
    columns = [
        *([] if keys is None else keys.columns),
        "rank",
        "feature",
        "value",
        "contribution",
        "reason_zh",
        "reason_en",
    ]
    return pd.DataFrame(rows, columns=columns)
