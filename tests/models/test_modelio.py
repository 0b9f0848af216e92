"""Model artefact: skops round trip, model card, AOA reference, feature checks at predict time."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from permamap.aoa import fit_aoa
from permamap.errors import DataError, InputFileError
from permamap.layout import RunLayout
from permamap.modelio import FeatureGuard, load_artefact, load_model, save_model, training_hash
from permamap.models import CORE_CANDIDATES, EXTRA_CANDIDATES, make_candidate


def model_files(folder) -> tuple:
    """Where a run folder keeps the model artefact (``folder`` is the run root)."""
    lay = RunLayout(folder)
    return lay.model, lay.model_card


@parametrize_with_checks([FeatureGuard(LogisticRegression())])
def test_feature_guard_is_a_sklearn_estimator(estimator, check) -> None:
    check(estimator)


@pytest.fixture
def fitted() -> tuple[FeatureGuard, pd.DataFrame]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["maat", "snow", "elev"])
    y = (X["maat"] < 0).astype(int)
    from sklearn.ensemble import RandomForestClassifier

    guard = FeatureGuard(RandomForestClassifier(20, random_state=0), ["maat", "snow", "elev"])
    return guard.fit(X, y), X


def test_round_trip_predicts_the_same(tmp_path, fitted) -> None:
    guard, X = fitted
    card = {"model": "random_forest", "features": ["maat", "snow", "elev"], "seed": 0}
    model_path, card_path = model_files(tmp_path)
    save_model(guard, card, model_path, card_path)
    loaded, card2 = load_model(model_path)
    assert card2 == card
    assert load_artefact(model_path, card_path).aoa is None
    np.testing.assert_array_equal(loaded.predict_proba(X), guard.predict_proba(X))
    # tables may come in any column order, arrays in card order
    np.testing.assert_array_equal(
        loaded.predict_proba(X[["elev", "maat", "snow"]]), guard.predict_proba(X.to_numpy())
    )
    assert not list(model_path.parent.glob("*.tmp*"))  # atomic writes leave no temp files


def test_aoa_reference_round_trips_through_the_artefact(tmp_path, fitted) -> None:
    guard, X = fitted
    rng = np.random.default_rng(3)
    folds = rng.integers(-1, 4, len(X))
    aoa = fit_aoa(X.to_numpy(), weights=[0.5, 0.0, 0.2], folds=folds)
    model_path, card_path = model_files(tmp_path)
    save_model(guard, {"features": ["maat", "snow", "elev"]}, model_path, card_path, aoa=aoa)
    art = load_artefact(model_path, card_path)
    assert art.aoa is not None
    new = rng.normal(scale=2.0, size=(500, 3))
    np.testing.assert_array_equal(art.aoa.dissimilarity(new), aoa.dissimilarity(new))
    np.testing.assert_array_equal(art.aoa.inside(new), aoa.inside(new))
    for key, value in aoa.to_dict().items():
        np.testing.assert_array_equal(art.aoa.to_dict()[key], value)
    assert art.aoa.threshold == aoa.threshold and art.aoa.mean_distance == aoa.mean_distance
    np.testing.assert_array_equal(art.aoa.folds, folds)
    np.testing.assert_array_equal(art.model.predict_proba(X), guard.predict_proba(X))
    # the card defaults to the file beside the model; the folder finds the model too
    assert load_artefact(model_path.parent).card == art.card


def test_aoa_must_match_the_features(tmp_path, fitted) -> None:
    guard, X = fitted
    aoa = fit_aoa(X.to_numpy()[:, :2])
    with pytest.raises(DataError, match="fit the AOA on the model's features"):
        save_model(guard, {"features": ["maat", "snow", "elev"]}, *model_files(tmp_path), aoa=aoa)


def test_bare_estimator_artefacts_still_load(tmp_path, fitted) -> None:
    import skops.io as sio

    guard, X = fitted
    model_path, card_path = model_files(tmp_path)
    model_path.parent.mkdir(parents=True)
    model_path.write_bytes(sio.dumps(guard.estimator_))
    card_path.write_text(json.dumps({"features": ["maat", "snow", "elev"]}))
    art = load_artefact(model_path)
    assert art.aoa is None
    np.testing.assert_array_equal(art.model.predict_proba(X), guard.predict_proba(X))


def test_a_run_without_aoa_reference_says_so(tmp_path, fitted, caplog) -> None:
    """`permamap map` on an older run folder: no aoa band, and a warning naming the fix."""
    import skops.io as sio

    from permamap.config import demo_config
    from permamap.stages import load_trained

    guard, _ = fitted
    cfg = demo_config(tmp_path)
    model_path, card_path = model_files(tmp_path)
    model_path.parent.mkdir(parents=True)
    model_path.write_bytes(sio.dumps(guard.estimator_))
    card_path.write_text(json.dumps({"features": ["maat", "snow", "elev"]}))
    with caplog.at_level("WARNING", logger="permamap.pipeline"):
        assert load_trained(cfg).aoa is None
    assert "no area-of-applicability reference" in caplog.text and "permamap run" in caplog.text


def test_predict_time_feature_errors(tmp_path, fitted) -> None:
    guard, X = fitted
    model_path, card_path = model_files(tmp_path)
    save_model(guard, {"features": ["maat", "snow", "elev"]}, model_path, card_path)
    model, _ = load_model(model_path.parent)
    with pytest.raises(DataError, match=r"lacks feature\(s\) \['snow'\].*supply those factors"):
        model.predict_proba(X[["maat", "elev"]])
    with pytest.raises(DataError, match="select the model card's features in order"):
        model.predict_proba(X.to_numpy()[:, :2])
    bad = X.to_numpy().copy()
    bad[3, 1] = np.nan
    with pytest.raises(DataError, match=r"NaN.*\['snow'\].*mask nodata"):
        model.predict_proba(bad)


def test_card_must_match_model(tmp_path, fitted) -> None:
    guard, _ = fitted
    model_path, card_path = model_files(tmp_path)
    with pytest.raises(DataError, match="same feature list"):
        save_model(guard, {"features": ["maat"]}, model_path, card_path)
    save_model(guard, {"features": ["maat", "snow", "elev"]}, model_path, card_path)
    card_path.write_text(json.dumps({"features": ["maat"]}))
    with pytest.raises(InputFileError, match="do not belong together"):
        load_model(model_path)


def test_untrusted_types_are_refused(tmp_path) -> None:
    import skops.io as sio

    model_path, card_path = model_files(tmp_path)
    model_path.parent.mkdir(parents=True)
    model_path.write_bytes(sio.dumps(FeatureGuard(LogisticRegression())))
    card_path.write_text(json.dumps({"features": ["a"]}))
    with pytest.raises(InputFileError, match="does not trust"):
        load_model(model_path)


@pytest.mark.parametrize(
    "name",
    [*CORE_CANDIDATES, *EXTRA_CANDIDATES],
)
def test_every_candidate_round_trips_with_skops(tmp_path, name: str) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    est = make_candidate(name, grid="none", random_state=0).build()
    guard = FeatureGuard(est, ["a", "b", "c"]).fit(X, y)
    model_path, card_path = model_files(tmp_path)
    save_model(guard, {"features": ["a", "b", "c"]}, model_path, card_path)
    loaded, _ = load_model(model_path)
    np.testing.assert_allclose(loaded.predict_proba(X), guard.predict_proba(X))


def test_missing_files(tmp_path) -> None:
    with pytest.raises(InputFileError, match="does not exist"):
        load_model(tmp_path)
    with pytest.raises(InputFileError, match="does not exist"):
        load_artefact(*model_files(tmp_path))


def test_training_hash_changes_with_data() -> None:
    X = np.zeros((3, 2))
    y = np.array([0, 1, 0])
    h = training_hash(X, y, ["a", "b"])
    assert h != training_hash(X, y, ["b", "a"])
    assert h != training_hash(X + 1, y, ["a", "b"])
