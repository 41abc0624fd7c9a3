"""Source data: the contract, reading and validation, storage, the simulated city and features."""

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
    "FileReport",
    "ImportRejected",
    "ImportReport",
    "Problem",
    "create_engine",
    "database_url",
    "get_table",
    "import_paths",
    "load_table",
    "metadata",
    "open_store",
    "table_counts",
    "upgrade",
]
