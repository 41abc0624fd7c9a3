"""The feature catalogue: every feature's name, Chinese name, English label, meaning, source, window and
missing rule.

Each family module declares its own entries next to the code that computes them; this module holds
the record types, the families and the Markdown rendering used by ``docs/features.md``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd


@dataclass(frozen=True)
class PeerScale:
    """Floor of the robust scale in a peer z-score: ``max(1.4826 * MAD, absolute, relative * |median|)``.

    Without a floor, a feature that is zero for most peers (MAD = 0) would give an infinite z-score
    to the one institution that is not.
    """

    absolute: float
    relative: float = 0.0


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    zh: str
    meaning: str
    family: str
    source: str
    window: str
    missing: str
    peer: PeerScale | None = None  # set when the feature also gets a peer z-score ``<name>_pz``
    # A short English label, as ``zh`` is in Chinese (what reasons and picks show staff); the meaning
    # is the full definition. Empty when the meaning is already short enough to show.
    en: str = ""

    @property
    def peer_name(self) -> str:
        return f"{self.name}_pz"

    @property
    def label_en(self) -> str:
        return self.en or self.meaning


@dataclass(frozen=True)
class Family:
    name: str
    zh: str
    tables: tuple[str, ...]  # all needed; the family is missing when one of them is
    meaning: str


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("static", "机构基本情况", ("institutions",), "kind, level, ownership, size, years designated, status"),
        Family("violations", "违规处理历史", ("violations",), "violations by severity, category and source"),
        Family(
            "self_inspection",
            "自查自纠诚信",
            ("self_inspections",),
            "problems reported and refunded; 'no problem' reports contradicted later",
        ),
        Family("claims", "结算行为（智能审核）", ("claims",), "smart-audit rules and peer metrics on settlements"),
        Family("claim_deaths", "死亡人员结算", ("claims", "deaths"), "settlements after the patient's death"),
        Family("claim_items", "费用明细规则", ("claims", "claim_items"), "duplicate items, trace codes, idle stays"),
        Family("complaints", "投诉举报", ("complaints",), "complaints received, substantiated and pending"),
        Family("referrals", "部门通报", ("referrals",), "referrals from other departments"),
        Family("staff_points", "人员记分", ("staff_points",), "staff points and staff suspended by points"),
    )
}

# What a peer z-score's labels add to its feature's labels (reasons strip them again and say "above peers").
PEER_ZH_SUFFIX = "（同类机构稳健Z值）"
PEER_EN_SUFFIX = " (peer z-score)"

PEER_Z_SPEC = (
    "(x - median) / max(1.4826 * MAD, floor) among the institutions active at as_of in the same kind × level "
    "peer group (falls back to kind alone when the group has fewer than 5 values)"
)


def catalogue_frame(specs: list[FeatureSpec]) -> pd.DataFrame:
    """The catalogue as a frame, peer z-scores listed after their feature."""
    rows = []
    for spec in specs:
        row = asdict(spec)
        row.pop("peer")
        row["en"] = spec.label_en
        rows.append(row)
        if spec.peer is not None:
            floor = f"floor {spec.peer.absolute:g}" + (
                f" or {spec.peer.relative:g}×|median|" if spec.peer.relative else ""
            )
            rows.append(
                {
                    "name": spec.peer_name,
                    "zh": f"{spec.zh}{PEER_ZH_SUFFIX}",
                    "en": f"{spec.label_en}{PEER_EN_SUFFIX}",
                    "meaning": f"{spec.meaning} — as a robust z-score within its peer group ({floor})",
                    "family": spec.family,
                    "source": spec.source,
                    "window": spec.window,
                    "missing": f"missing when {spec.name} is missing or the peer group is too small",
                }
            )
    return pd.DataFrame(rows, columns=["name", "zh", "en", "meaning", "family", "source", "window", "missing"])


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def catalogue_markdown(catalogue: pd.DataFrame) -> str:
    """The catalogue as Markdown tables, one per family."""
    lines: list[str] = []
    for family in FAMILIES.values():
        rows = catalogue[catalogue["family"] == family.name]
        if rows.empty:
            continue
        lines += [f"### {family.name} — {family.zh}", "", f"Needs: {', '.join(family.tables)}.", ""]
        lines += [
            "| name | 中文名 | English | meaning | source | window | missing data |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in rows.itertuples(index=False):
            english = "" if row.en == row.meaning else row.en  # shown once when the meaning is the label
            cells = (f"`{row.name}`", row.zh, english, row.meaning, row.source, row.window, row.missing)
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)
