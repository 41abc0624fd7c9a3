"""Source data: the contract, reading and validation, storage, the simulated city and features."""

from .build import FeatureSet, MissingFamily, build_feature_panel, build_features, claim_leads, feature_catalogue
from .claim_features import ClaimRules, flag_claims
from .contract import CODE_LISTS, CONTRACT_VERSION, DISPOSITION_SEVERITY, REQUIRED_TABLES, TABLES, get_table
from .importer import FileReport, ImportReport, import_paths
from .problems import ImportRejected, Problem
from .storage import create_engine, database_url, load_table, metadata, open_store, table_counts, upgrade

__all__ = [
    "CODE_LISTS",
    "CONTRACT_VERSION",
    "DISPOSITION_SEVERITY",
    "REQUIRED_TABLES",
    "TABLES",
    "ClaimRules",
    "FeatureSet",
    "FileReport",
    "ImportRejected",
    "ImportReport",
    "MissingFamily",
    "Problem",
    "build_feature_panel",
    "build_features",
    "claim_leads",
    "create_engine",
    "database_url",
    "feature_catalogue",
    "flag_claims",
    "get_table",
    "import_paths",
    "load_table",
    "metadata",
    "open_store",
    "table_counts",
    "upgrade",
]
