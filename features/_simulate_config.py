"""Constants that shape the simulated city: mix of institutions, claim profiles, supervision rates.

Everything the simulator draws from lives here as data, so that calibration is a matter of editing
tables, not hunting literals through the code. Figures follow shared/domain.md §5–§7.
"""

from __future__ import annotations

PROVINCE_CODE = "440000"
CITY_CODE = "441500"
CITY_NAME = "汕尾市"
# (region code, name, share of institutions)
COUNTIES: tuple[tuple[str, str, float], ...] = (
    ("441502", "城区", 0.24),
    ("441521", "海丰县", 0.34),
    ("441523", "陆河县", 0.12),
    ("441581", "陆丰市", 0.30),
)
TOWNS = (
    "梅陇",
    "可塘",
    "公平",
    "联安",
    "赤坑",
    "河田",
    "水唇",
    "东海",
    "碣石",
    "甲子",
    "南塘",
    "博美",
    "桥冲",
    "河东",
    "城东",
    "马宫",
    "红草",
    "捷胜",
    "东涌",
    "上英",
    "新田",
    "螺溪",
    "潭西",
    "八万",
)
VILLAGES = ("新厝", "后湖", "东山", "西坑", "南埔", "北港", "石寨", "田心", "下寮", "上围", "林厝", "溪头")
SURNAMES = (
    "陈",
    "林",
    "黄",
    "李",
    "张",
    "王",
    "吴",
    "刘",
    "蔡",
    "郑",
    "杨",
    "许",
    "彭",
    "卓",
    "庄",
    "余",
    "叶",
    "钟",
    "罗",
    "曾",
)
GIVEN = (
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "涛",
    "明",
    "超",
    "秀",
    "华",
    "平",
    "刚",
    "桂",
    "英",
    "文",
    "辉",
    "建",
    "国",
    "志",
    "海",
    "丽",
)
PHARMACY_BRANDS = ("海王星辰", "大参林", "老百姓", "益丰", "一心堂", "国药", "康和", "仁心", "百姓康", "德仁堂")
HOSPITAL_SUFFIXES = (
    "人民医院",
    "中医医院",
    "妇幼保健院",
    "第二人民医院",
    "骨科医院",
    "康复医院",
    "仁爱医院",
    "协和医院",
    "博爱医院",
    "慈济医院",
)

KINDS = ("hospital", "primary_care", "village_clinic", "clinic", "pharmacy")
HOSPITAL, PRIMARY, VILLAGE, CLINIC, PHARMACY = range(5)
KIND_SHARE = (0.07, 0.08, 0.14, 0.20, 0.51)
HOSPITAL_LEVELS = (3, 2, 1, 0)
HOSPITAL_LEVEL_SHARE = (0.08, 0.30, 0.42, 0.20)
PRIMARY_LEVELS = (1, 0)
PRIMARY_LEVEL_SHARE = (0.6, 0.4)
PUBLIC_SHARE = (0.65, 0.97, 0.55, 0.08, 0.04)
# Share of pharmacies belonging to a chain that shares one unified social credit code.
CHAIN_PHARMACY_SHARE = 0.25
CHAIN_SIZE = (3, 12)

# Claims volume weight of one institution, relative (normalised so that the mean is 1).
VOLUME_BY_HOSPITAL_LEVEL = {3: 60.0, 2: 16.0, 1: 5.0, 0: 3.0}
VOLUME_BY_KIND = (0.0, 7.0, 0.8, 1.2, 0.6)  # hospital entry unused: by level
# Claims by calendar month (Spring Festival dip, winter respiratory peak).
SEASONALITY = (1.08, 0.86, 1.0, 0.97, 0.96, 0.95, 0.96, 0.97, 0.98, 1.0, 1.06, 1.21)

VISIT_TYPES = ("outpatient", "inpatient", "chronic", "pharmacy")
OUTPATIENT, INPATIENT, CHRONIC, PHARMACY_VISIT = range(4)
VISIT_MIX = (  # by kind: outpatient, inpatient, chronic, pharmacy
    (0.72, 0.13, 0.15, 0.0),
    (0.72, 0.08, 0.20, 0.0),
    (0.93, 0.0, 0.07, 0.0),
    (0.90, 0.0, 0.10, 0.0),
    (0.0, 0.0, 0.0, 1.0),
)
# Median total amount (yuan) by visit type, before the level factor; log-normal sigma.
AMOUNT_MEDIAN = (95.0, 5200.0, 320.0, 85.0)
AMOUNT_SIGMA = (0.75, 0.65, 0.55, 0.8)
LEVEL_AMOUNT_FACTOR = {3: 2.1, 2: 1.35, 1: 0.85, 0: 0.8}
KIND_AMOUNT_FACTOR = (1.0, 0.6, 0.45, 0.9, 1.0)  # hospital uses the level factor
INPATIENT_LOS_MEDIAN = 6.5
# Gamma shape of the parts of a bill: drug, exam, material, service, other.
PART_SHAPES = (
    (4.0, 2.0, 0.3, 2.0, 0.6),
    (3.0, 2.5, 1.5, 3.0, 0.8),
    (7.0, 1.0, 0.1, 1.0, 0.3),
    (9.0, 0.0, 0.0, 0.0, 0.0),
)
FUND_SHARE = (0.45, 0.72, 0.68, 0.5)  # mean fund share by visit type
PHARMACY_POOLED_SHARE = 0.3  # pharmacy purchases paid by the outpatient pool; the rest personal account
EMERGENCY_RATE = {(HOSPITAL, OUTPATIENT): 0.06, (HOSPITAL, INPATIENT): 0.3, (PRIMARY, INPATIENT): 0.1}

# ICD-10 (医保版) codes with weights.
DIAGNOSES_OUTPATIENT = (
    ("J06.900", 22),
    ("K29.700", 10),
    ("M54.500", 8),
    ("I10", 12),
    ("E11.900", 7),
    ("J20.900", 10),
    ("K52.900", 5),
    ("L30.900", 5),
    ("R51", 4),
    ("H10.900", 3),
    ("J18.900", 4),
    ("N39.000", 4),
    ("K02.900", 3),
    ("M17.900", 3),
)
DIAGNOSES_CHRONIC = (
    ("I10", 35),
    ("E11.900", 25),
    ("N18.900", 7),
    ("I25.100", 10),
    ("J44.900", 8),
    ("C34.900", 3),
    ("F20.900", 5),
    ("I63.900", 7),
)
DIAGNOSES_INPATIENT = (
    ("J18.900", 14),
    ("I63.900", 10),
    ("I25.100", 8),
    ("K80.100", 5),
    ("C34.900", 5),
    ("N18.900", 4),
    ("S72.000", 4),
    ("O80.900", 8),
    ("E11.900", 6),
    ("J44.100", 7),
    ("I50.900", 6),
    ("K35.800", 5),
    ("I10", 5),
    ("K29.700", 3),
    ("J06.900", 2),
    ("M54.500", 2),
    ("F20.900", 2),
)
DIAGNOSES_PHARMACY = (("J06.900", 30), ("I10", 25), ("E11.900", 15), ("K29.700", 15), ("M54.500", 15))
PHARMACY_DIAGNOSIS_MISSING = 0.55
LOW_STANDARD_DIAGNOSES = ("J06.900", "M54.500", "K29.700", "I10")
LONG_STAY_DIAGNOSES = ("F20.900", "I63.900")  # honest long stays: psychiatry, stroke rehabilitation
CHEMOTHERAPY_DIAGNOSIS = "C34.900"

# Abuse patterns injected into claims (ground truth names), and where they can happen.
PATTERNS = (
    "split_admission",
    "phantom_bed",
    "low_standard_admission",
    "overprescription",
    "duplicate_billing",
    "resale",
    "deceased_settlement",
    "fake_visit",
    "inflated_cost",
    "hidden",
)
(SPLIT, PHANTOM, LOW_STANDARD, OVERPRESCRIPTION, DUPLICATE, RESALE, DECEASED, FAKE_VISIT, INFLATED, HIDDEN) = range(10)
# Base weight of each pattern in an institution's repertoire, by kind (0 = impossible).
PATTERN_WEIGHT = (  # hospital, primary_care, village_clinic, clinic, pharmacy
    (1.2, 0.8, 0.0, 0.0, 0.0),
    (1.0, 1.0, 0.0, 0.0, 0.0),
    (0.7, 0.8, 0.0, 0.0, 0.0),
    (0.8, 1.0, 1.0, 1.0, 1.5),
    (1.0, 0.8, 0.5, 0.8, 0.0),
    (0.0, 0.0, 0.0, 0.5, 1.0),
    (0.25, 0.3, 0.4, 0.3, 0.3),
    (0.0, 0.5, 1.0, 1.0, 1.2),
    (1.5, 1.0, 0.8, 1.2, 0.8),
    (1.0, 1.0, 1.0, 1.0, 1.0),
)
# Share of an institution's claims that are abusive at propensity 1 (scaled linearly by propensity).
ABUSE_SHARE_AT_FULL_PROPENSITY = 0.2
PATTERN_PREFERENCE_CONCENTRATION = 0.8
# Honest background rates of each signal (per eligible claim), independent of conduct.
NOISE_READMISSION = 0.012
NOISE_LONG_STAY = 0.008
NOISE_EXAM_HEAVY_STAY = 0.003
NOISE_LONG_SUPPLY = 0.015
NOISE_DUPLICATE_ITEM = 0.003
NOISE_TRACE_REUSE = 0.0005
DEATHS_IN_HOSPITAL = 0.4
ANNUAL_MORTALITY = 0.007
REMOTE_PATIENT_SHARE = 0.04

# Latent misconduct propensity: logit = mean + kind offset + chain effect + heterogeneity; AR(1) drift.
# Misconduct concentrates: most institutions' claims are nearly clean and a minority abuse
# systematically (nationally 0.4 % of checked institutions were terminated or referred to the police
# in 2022, domain §7), so the spread between institutions is wide; the mean keeps the share of
# inspected institutions found violating near the national 45 %.
PROPENSITY_MEAN = -1.6
PROPENSITY_KIND_OFFSET = (0.1, 0.0, -0.1, 0.1, 0.0)
PROPENSITY_PRIVATE_OFFSET = 0.1
PROPENSITY_SD = 1.6
PROPENSITY_CHAIN_SD = 0.6
PROPENSITY_AR = 0.7
PROPENSITY_DRIFT_SD = 0.45
DETERRENCE_DECAY_PER_MONTH = 0.92

# Inspections.
INSPECTION_KINDS = ("routine", "random", "targeted", "special", "flying", "cross", "complaint")
INSPECTION_SOURCE = {
    "routine": "routine_inspection",
    "random": "random_inspection",
    "targeted": "targeted_inspection",
    "special": "special_inspection",
    "flying": "flying_inspection",
    "cross": "cross_inspection",
    "complaint": "complaint",
}
INSPECTION_LEVEL = {
    "routine": "county",
    "random": "county",
    "targeted": "county",
    "special": "city",
    "flying": "province",
    "cross": "city",
    "complaint": "county",
}
# Detection strength on the logit scale before the inspectors' own skill.
DETECTION_LOGIT = {
    "routine": -1.2,
    "random": -0.9,
    "targeted": -0.2,
    "special": -0.4,
    "flying": 0.6,
    "cross": -0.4,
    "complaint": -1.3,
    "self_inspection": -0.6,
}
INSPECTOR_SKILL_SD = 0.6
# Inspections find abuse by reviewing records: a sample of the claims of the last 12 months, larger at
# larger institutions but far from proportionally (REVIEW_RECORDS at 1,000 claims, times
# (claims / 1,000) ** REVIEW_SIZE_EXPONENT, at most every claim). Each abusive record in the sample is
# recognised with the inspection's strength, so the chance of uncovering a pattern is
# 1 - exp(-strength * reviewed * share of the claims abusive in that pattern): it follows how much of
# an institution's billing is abusive (its conduct), not how large it is.
REVIEW_RECORDS = 64
REVIEW_SIZE_EXPONENT = 0.3
ROUTINE_COVERAGE = 0.96
ROUTINE_HOME_TEAM = 0.7
RANDOM_DRAW_SHARE = 0.025  # per draw; two draws a year
SPECIAL_SHARE = 0.12  # of the year's theme kind
FLYING_SHARE = 0.01
CROSS_SHARE = 0.01
TARGETED_SHARE_PER_QUARTER = 0.02
PUBLISH_SHARE = {"random": 1.0, "flying": 0.9, "special": 0.8}
PUBLISH_DEFAULT_SHARE = 0.5
PUBLISH_LATE_SHARE = 0.1
CHECK_ITEMS = {
    "pharmacy": ("YD01", "YD02", "YD03", "YD04", "GL01"),
    "inpatient": ("ZY01", "ZY02", "ZY03", "SF01", "BL01", "GL01"),
    "outpatient": ("MZ01", "MZ02", "SF01", "BL01", "GL01", "YS01"),
}
SPECIAL_THEMES = ("inpatient", "pharmacy", "clinic")

# Violations found by pattern: violation categories to choose from.
CATEGORIES_BY_PATTERN = (
    ("split_admission",),
    ("phantom_bed",),
    ("low_standard_admission",),
    ("overprescription",),
    ("duplicate_billing", "unbundling"),
    ("resale", "item_substitution"),
    ("deceased_settlement",),
    ("fake_visit", "fabricated_service"),
    ("overcharging", "overtreatment", "item_substitution", "unbundling"),
    ("management", "out_of_scope", "other"),
)
FRAUD_PATTERNS = frozenset({PHANTOM, RESALE, DECEASED, FAKE_VISIT})
FOUND_SHARE_RANGE = (0.35, 1.0)

DISPOSITIONS = (
    "interview",
    "rectification",
    "recovery",
    "refusal",
    "payment_suspension",
    "liquidated_damages",
    "staff_suspension",
    "agreement_suspension",
    "penalty_art39",
    "penalty_art38",
    "penalty_art40",
    "agreement_termination",
    "police_referral",
)
# (upper bound of the amount band in yuan, dispositions, weights) for non-fraud abuse.
DISPOSITION_BANDS = (
    (1_000, ("interview", "rectification", "recovery", "refusal"), (0.62, 0.08, 0.18, 0.12)),
    (10_000, ("interview", "recovery", "refusal", "liquidated_damages", "rectification"), (0.3, 0.3, 0.2, 0.15, 0.05)),
    (
        50_000,
        ("recovery", "refusal", "payment_suspension", "liquidated_damages", "staff_suspension", "agreement_suspension"),
        (0.3, 0.2, 0.1, 0.3, 0.03, 0.07),
    ),
    (
        200_000,
        ("liquidated_damages", "staff_suspension", "agreement_suspension", "penalty_art38"),
        (0.5, 0.1, 0.2, 0.2),
    ),
    (float("inf"), ("liquidated_damages", "agreement_suspension", "penalty_art38"), (0.35, 0.35, 0.3)),
)
# One step up the ladder for repeat offenders (rectification is no heavier than an interview in practice).
ESCALATION = {
    "interview": "recovery",
    "rectification": "recovery",
    "recovery": "refusal",
    "refusal": "payment_suspension",
    "payment_suspension": "liquidated_damages",
    "liquidated_damages": "agreement_suspension",
}
# What an essential institution (public or level-2+ hospital, health centre) gets instead of losing its agreement.
ESSENTIAL_INSTEAD = (("staff_suspension", "liquidated_damages"), (0.5, 0.5))
MANAGEMENT_DISPOSITIONS = (("interview", "rectification", "penalty_art39"), (0.75, 0.17, 0.08))
# Whether a fraud-type pattern (phantom beds, resale, settlements after death, fake visits) is ruled
# insurance fraud (Art. 40) rather than a violation: it turns on how pervasive the scheme is — the
# amount found as a share of the institution's fund income over the last 12 months — and on intent
# (the propensity), far more than on the absolute sum, which is what puts small pharmacies and
# private clinics on real fraud lists. (upper bound of the share, chance before the intent factor).
FRAUD_SHARE_BY_BILLING_SHARE = ((0.02, 0.0), (0.05, 0.03), (0.1, 0.08), (float("inf"), 0.2))
# Large sums are pursued as fraud even where they are a small part of a large institution's income.
FRAUD_SHARE_BY_AMOUNT = ((20_000, 0.0), (100_000, 0.04), (float("inf"), 0.12))
FRAUD_MINIMUM_YUAN = 1_000
LENIENT_SHARE_FIRST_MINOR = 0.55
OVERTURNED_SHARE = 0.03
APPEAL_SHARE_HEAVY = 0.25
HEAVY_DISPOSITIONS = frozenset(
    {
        "staff_suspension",
        "agreement_suspension",
        "penalty_art39",
        "penalty_art38",
        "penalty_art40",
        "agreement_termination",
        "police_referral",
    }
)
# Deterrence added to the propensity logit after a decision, by disposition rank.
DETERRENCE_BY_RANK = (0.08, 0.1, 0.12, 0.12, 0.18, 0.2, 0.25, 0.3, 0.2, 0.3, 0.45, 0.6, 0.6)

# Smart audit, complaints, referrals, self-inspection.
SMART_AUDIT_CONFIRM_RATE = 0.02
SMART_AUDIT_NOISE_FLAGS = 0.01  # flagged honest claims per claim
COMPLAINT_BASE_RATE = 0.01
COMPLAINT_PROPENSITY_RATE = 0.025
COMPLAINT_CHANNELS = (("hotline", 0.45), ("online", 0.35), ("letter", 0.1), ("visit", 0.1))
REFERRAL_BASE_RATE = 0.003
REFERRAL_PROPENSITY_RATE = 0.012
REFERRAL_DEPARTMENTS = (
    ("health", ("无资质行医", "超范围执业", "病历书写不规范")),
    ("market", ("虚假宣传", "价格违法", "药品质量问题")),
    ("tax", ("虚开发票", "偷逃税款")),
    ("police", ("涉嫌诈骗医保基金", "倒卖药品")),
    ("audit", ("审计发现违规使用基金",)),
    ("discipline", ("公职人员违规",)),
)
REFERRAL_DEPARTMENT_WEIGHTS = (0.35, 0.25, 0.12, 0.12, 0.1, 0.06)
SELF_INSPECTION_SUBMIT = 0.75
SELF_INSPECTION_VERIFY_RANDOM = 0.1
SELF_INSPECTION_VERIFY_NO_PROBLEM = 0.25
HONESTY_MEAN = 1.2
HONESTY_PROPENSITY_SLOPE = 1.4

# Staff points (2024 national rule).
POINTS_BY_DISPOSITION = {
    "payment_suspension": (1, 3),
    "liquidated_damages": (1, 3),
    "staff_suspension": (1, 3),
    "agreement_suspension": (1, 3),
    "penalty_art39": (4, 6),
    "penalty_art38": (4, 6),
    "penalty_art40": (10, 12),
    "agreement_termination": (10, 12),
    "police_referral": (10, 12),
}
POINTS_REASONS = {
    (1, 3): "机构受到暂停拨付或违约金处理，负有责任",
    (4, 6): "机构受到行政处罚，负有责任",
    (7, 9): "重复发生已记分违规行为",
    (10, 12): "机构欺诈骗保受到行政处罚，负有责任",
}
STAFF_ROLES = ("doctor", "nurse", "pharmacist", "technician", "other")
STAFF_ROLE_LETTER = ("D", "N", "Y", "J", "Q")
STAFF_ROLE_MIX = (  # by kind
    (0.33, 0.42, 0.05, 0.10, 0.10),
    (0.35, 0.40, 0.05, 0.10, 0.10),
    (0.85, 0.15, 0.0, 0.0, 0.0),
    (0.45, 0.35, 0.10, 0.05, 0.05),
    (0.0, 0.0, 0.55, 0.0, 0.45),
)
STAFF_QUALIFIED_SHARE = 0.85
INSPECTOR_SPECIALTIES = ("pharmacy", "inpatient", "coding", "outpatient", "drugs", "finance")
