"""Risk models: training data, LightGBM with calibration, reasons, evaluation and versioned bundles."""

from .bundle import BUNDLE_FORMAT, BundleError
from .card import model_card
from .conduct import SIZE_PREFIX, conduct_catalogue, conduct_features, conduct_monotone, is_size_control
from .dataset import (
    PanelSpec,
    TrainingData,
    build_training_panel,
    inspection_outcomes,
    snapshot_from_store,
    training_data_from_store,
)
from .evaluation import BacktestResult, rolling_backtest
from .reasons import top_reasons
from .registry import ModelRecord, UnknownModelVersion, get_model_record, list_model_versions, load_model, save_model
from .training import RiskBands, RiskModel, RiskModelConfig

__all__ = [
    "BUNDLE_FORMAT",
    "SIZE_PREFIX",
    "BacktestResult",
    "BundleError",
    "ModelRecord",
    "PanelSpec",
    "RiskBands",
    "RiskModel",
    "RiskModelConfig",
    "TrainingData",
    "UnknownModelVersion",
    "build_training_panel",
    "conduct_catalogue",
    "conduct_features",
    "conduct_monotone",
    "get_model_record",
    "inspection_outcomes",
    "is_size_control",
    "list_model_versions",
    "load_model",
    "model_card",
    "rolling_backtest",
    "save_model",
    "snapshot_from_store",
    "top_reasons",
    "training_data_from_store",
]
