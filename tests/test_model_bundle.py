"""Model bundles: round trip through the registry, and refusal of anything the service did not write."""

from __future__ import annotations

import json

import joblib
import numpy as np
import pytest

from models.bundle import BUNDLE_FORMAT, BundleError, load_bundle, write_bundle
from models.dataset import infer_spec
from models.registry import (
    UnknownModelVersion,
    get_model_record,
    list_model_versions,
    load_model,
    register_bundle,
    save_model,
)
from models.synthetic import synthetic_panel
from models.training import RiskModel, RiskModelConfig

SMALL = RiskModelConfig(n_estimators=20, amount_estimators=20, num_leaves=5, min_child_samples=20)


@pytest.fixture(scope="module")
def model() -> RiskModel:
    panel = synthetic_panel(1200, seed=5)
    return RiskModel(SMALL).fit(panel, infer_spec(panel, exclude=["conduct"]))


def test_saved_model_round_trips_with_identical_scores(store, model):
    record = save_model(store, model)
    loaded, again = load_model(store)
    assert again.version == record.version
    frame = synthetic_panel(100, seed=6)
    assert np.array_equal(loaded.score(frame)["probability"], model.score(frame)["probability"])


def test_registry_records_hash_format_window_and_libraries(store, model):
    record = save_model(store, model)
    assert record.format_version == BUNDLE_FORMAT
    assert record.path.parent.name == "models"
    assert record.version.endswith(record.sha256[:10])
    assert record.metadata["libraries"]["lightgbm"]
    assert record.metadata["training_window"] == [str(record.trained_from), str(record.trained_to)]
    assert {f["name"] for f in record.metadata["features"]} == set(model.spec_.features)
    json.dumps(record.metadata)  # the stored metadata is plain JSON


def test_loading_refuses_a_tampered_file(store, model):
    record = save_model(store, model)
    with open(record.path, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BundleError, match="refusing to load"):
        load_model(store, record.version)


def test_loading_refuses_an_unknown_format(tmp_path, model):
    info = write_bundle(model, tmp_path)
    with pytest.raises(BundleError, match="format_version must be"):
        load_bundle(info.path, sha256=info.sha256, format_version="medcredit-risk-model/0")


def test_loading_refuses_a_pickle_of_something_else(tmp_path):
    path = tmp_path / "other.joblib"
    joblib.dump({"format_version": "other", "model": 1}, path)
    from models.bundle import file_sha256

    with pytest.raises(BundleError, match="holds format 'other'"):
        load_bundle(path, sha256=file_sha256(path))


def test_new_registration_becomes_the_only_active_version(sqlite_store, model, tmp_path):
    first = save_model(sqlite_store, model)
    other = RiskModel(RiskModelConfig(**{**SMALL.to_dict(), "seed": 7})).fit(synthetic_panel(1200, seed=5), model.spec_)
    second = save_model(sqlite_store, other)
    assert first.version != second.version
    active = [r.version for r in list_model_versions(sqlite_store) if r.active]
    assert active == [second.version]
    assert get_model_record(sqlite_store, first.version).active is False


def test_registering_without_activation_keeps_the_active_version(sqlite_store, model, tmp_path):
    first = save_model(sqlite_store, model)
    info = write_bundle(
        RiskModel(RiskModelConfig(**{**SMALL.to_dict(), "seed": 9})).fit(synthetic_panel(1200, seed=5), model.spec_),
        tmp_path,
    )
    register_bundle(sqlite_store, info, activate=False)
    assert get_model_record(sqlite_store).version == first.version


def test_unknown_version_is_a_lookup_error(sqlite_store):
    with pytest.raises(UnknownModelVersion, match="no active risk model"):
        load_model(sqlite_store)
    with pytest.raises(UnknownModelVersion, match="got 'rm-x'"):
        get_model_record(sqlite_store, "rm-x")


def test_only_fitted_models_can_be_written(tmp_path):
    with pytest.raises(BundleError, match="fitted RiskModel"):
        write_bundle(RiskModel(), tmp_path)
