#!/usr/bin/env python3
"""Train the room-occupancy classifier on 10-minute windows of the UCI "Occupancy Detection" data.

Re-run with ``ml/.venv/bin/python ml/train_occupancy.py`` (from the repository root or anywhere):
it rewrites, byte for byte identically on the pinned versions of ml/requirements.txt,

* ``ml/occupancy.onnx``                  StandardScaler + LogisticRegression, float64 in/out
* ``ml/MODEL_CARD.md``                   features, data, label, metrics, limits, version
* ``ml/fixtures/occupancy_parity.json``  test windows with features and scikit-learn P(occupied)

Features are computed exactly like the SQL aggregate ``analytics.sensor_readings_10min``::

    window_start = date_bin('10 minutes', event_time, TIMESTAMPTZ '2000-01-01 00:00:00+00')
    avg_temperature = avg(temperature), avg_humidity = avg(humidity),
    avg_light = avg(light), avg_co2 = avg(co2), reading_count = count(*)

i.e. each timestamp (read as UTC) is floored to a multiple of 10 minutes and the columns are plain means.
2000-01-01 00:00 UTC is itself a multiple of 10 minutes since the Unix epoch, so flooring the epoch
seconds is the same bin.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import sklearn
import skl2onnx
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import DoubleTensorType
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score
from sklearn.model_selection import TimeSeriesSplit, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

ML_DIR = Path(__file__).resolve().parent
ROOT = ML_DIR.parent
DATA_DIR = ROOT / "data" / "uci-occupancy"
ONNX_PATH = ML_DIR / "occupancy.onnx"
CARD_PATH = ML_DIR / "MODEL_CARD.md"
FIXTURE_PATH = ML_DIR / "fixtures" / "occupancy_parity.json"

#: Model family + version; the full model version is ``f"{MODEL_NAME}@{sha256(onnx bytes)[:12]}"``
#: (src/ml/occupancy-model.ts computes the same string from the file it loads).
MODEL_NAME = "occupancy-logreg-v1"
#: Feature columns of the aggregate, in the order of the ONNX input's second dimension.
FEATURES = ["avg_temperature", "avg_light", "avg_co2"]
#: Every numeric column the aggregate offers (candidates for the feature subset).
AGGREGATE_COLUMNS = ["avg_temperature", "avg_humidity", "avg_light", "avg_co2", "reading_count"]
INPUT_NAME = "features"
WINDOW = "10min"
SEED = 20150202
TARGET_OPSET = {"": 15, "ai.onnx.ml": 3}
PARITY_TOLERANCE = 1e-6


def load_windows(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-minute readings and their 10-minute windows (SQL aggregate columns + label)."""
    df = pd.read_csv(path)
    df["event_time"] = pd.to_datetime(df["Date"], format="%Y-%m-%d %H:%M:%S", utc=True)
    df["window_start"] = df["event_time"].dt.floor(WINDOW)
    g = (
        df.groupby("window_start", sort=True)
        .agg(
            avg_temperature=("Temperature", "mean"),
            avg_humidity=("Humidity", "mean"),
            avg_light=("Light", "mean"),
            avg_co2=("CO2", "mean"),
            reading_count=("Temperature", "size"),
            occupancy_mean=("Occupancy", "mean"),
        )
        .reset_index()
    )
    g["occupied"] = (g["occupancy_mean"] >= 0.5).astype(int)
    return df, g


def metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    tn, fp, fn, tp = confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
    return {
        "n": int(len(y_true)),
        "positives": int(y_true.sum()),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision": float(precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(recall_score(y_true, y_pred, zero_division=0)),
        "f1": float(f1_score(y_true, y_pred, zero_division=0)),
        "confusion": {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)},
    }


def make_model() -> Pipeline:
    return Pipeline([("scaler", StandardScaler()), ("logreg", LogisticRegression(C=1.0, max_iter=1000, random_state=SEED))])


def subset_cv(train: pd.DataFrame) -> list[tuple[list[str], float]]:
    """Mean accuracy of a 5-fold forward-chaining (time-series) CV on the TRAINING windows per subset."""
    candidates = [
        ["avg_light"],
        ["avg_co2"],
        ["avg_light", "avg_co2"],
        ["avg_temperature", "avg_light", "avg_co2"],
        ["avg_humidity", "avg_light", "avg_co2"],
        ["avg_temperature", "avg_humidity", "avg_light", "avg_co2"],
        ["avg_temperature", "avg_humidity", "avg_light", "avg_co2", "reading_count"],
    ]
    out = []
    for cols in candidates:
        s = cross_val_score(make_model(), train[cols].to_numpy(np.float64), train["occupied"].to_numpy(), cv=TimeSeriesSplit(5))
        out.append((cols, float(s.mean())))
    return out


def pick_fixture_rows(test: pd.DataFrame, proba: np.ndarray) -> pd.DataFrame:
    """60 test windows: 25 occupied + 25 empty at random, the 8 closest to p=0.5, first and last (partial) window."""
    rng = np.random.default_rng(SEED)
    idx: list[int] = []
    occ = np.flatnonzero(test["occupied"].to_numpy() == 1)
    emp = np.flatnonzero(test["occupied"].to_numpy() == 0)
    idx += rng.choice(occ, 25, replace=False).tolist()
    idx += rng.choice(emp, 25, replace=False).tolist()
    idx += [i for i in np.argsort(np.abs(proba - 0.5), kind="stable").tolist() if i not in idx][:8]
    idx += [i for i in (0, len(test) - 1) if i not in idx]
    return test.iloc[sorted(set(idx))]


def main() -> int:
    np.random.seed(SEED)
    _, train = load_windows(DATA_DIR / "datatraining.txt")
    test_minutes, test = load_windows(DATA_DIR / "datatest.txt")
    x_train = train[FEATURES].to_numpy(np.float64)
    y_train = train["occupied"].to_numpy()
    x_test = test[FEATURES].to_numpy(np.float64)
    y_test = test["occupied"].to_numpy()

    cv = subset_cv(train)
    model = make_model().fit(x_train, y_train)
    proba = model.predict_proba(x_test)[:, 1]
    pred = model.predict(x_test)
    m_train = metrics(y_train, model.predict(x_train))
    m_test = metrics(y_test, pred)
    # Per-minute view: every reading gets its window's prediction, compared with its own ground truth.
    by_window = pd.Series(pred, index=test["window_start"])
    minute_pred = test_minutes["window_start"].map(by_window).to_numpy()
    m_minute = metrics(test_minutes["Occupancy"].to_numpy(), minute_pred)

    # ---- ONNX export (float64 end to end, no ZipMap: outputs `label` int64[N], `probabilities` double[N,2]).
    onx = convert_sklearn(
        model,
        name=MODEL_NAME,
        initial_types=[(INPUT_NAME, DoubleTensorType([None, len(FEATURES)]))],
        target_opset=TARGET_OPSET,
        options={id(model.named_steps["logreg"]): {"zipmap": False}},
    )
    # skl2onnx collects the opsets in a set: sort them so the serialized bytes do not depend on hash seeds.
    opsets = sorted(((o.domain, o.version) for o in onx.opset_import))
    del onx.opset_import[:]
    for domain, version in opsets:
        onx.opset_import.add(domain=domain, version=version)
    onx.doc_string = f"{MODEL_NAME}: P(room occupied) from 10-minute sensor window means. See ml/MODEL_CARD.md."
    for key, value in {
        "model_name": MODEL_NAME,
        "feature_names": ",".join(FEATURES),
        "input_name": INPUT_NAME,
        "positive_class_index": "1",
        "window": "10 minutes, date_bin origin 2000-01-01T00:00:00Z",
    }.items():
        entry = onx.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(onx)
    blob = onx.SerializeToString(deterministic=True)
    ONNX_PATH.write_bytes(blob)
    sha = hashlib.sha256(blob).hexdigest()
    model_version = f"{MODEL_NAME}@{sha[:12]}"

    # ---- Parity check scikit-learn vs onnxruntime on every test window.
    sess = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    ort_label, ort_proba = sess.run(["label", "probabilities"], {INPUT_NAME: x_test})
    max_diff = float(np.max(np.abs(ort_proba[:, 1] - proba)))
    if max_diff > PARITY_TOLERANCE or not np.array_equal(ort_label, pred):
        print(f"ONNX parity FAILED: max |dp| = {max_diff}", file=sys.stderr)
        return 1

    # ---- Fixture for the TypeScript tests.
    rows = pick_fixture_rows(test, proba)
    fixture = {
        "description": "Windows of data/uci-occupancy/datatest.txt with SQL-aggregate features and scikit-learn "
        "predict_proba P(occupied); written by ml/train_occupancy.py.",
        "modelVersion": model_version,
        "onnxSha256": sha,
        "features": FEATURES,
        "tolerance": PARITY_TOLERANCE,
        "rows": [
            {
                "windowStart": r.window_start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                **{c: (int(getattr(r, c)) if c == "reading_count" else float(getattr(r, c))) for c in AGGREGATE_COLUMNS},
                "labelOccupied": bool(r.occupied),
                "probability": float(proba[i]),
                "predictedOccupied": bool(pred[i]),
            }
            for i, r in zip(rows.index, rows.itertuples(index=False))
        ],
    }
    FIXTURE_PATH.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE_PATH.write_text(json.dumps(fixture, indent=2) + "\n")

    CARD_PATH.write_text(
        model_card(model, model_version, sha, opsets, train, test, cv, m_train, m_test, m_minute, max_diff, len(test_minutes))
    )
    print(f"model {model_version}")
    print(f"test windows: acc {m_test['accuracy']:.4f} precision {m_test['precision']:.4f} recall {m_test['recall']:.4f} f1 {m_test['f1']:.4f}")
    print(f"test minutes: acc {m_minute['accuracy']:.4f}; onnx max |dp| {max_diff:.2e}")
    return 0


def pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def model_card(model, version, sha, opsets, train, test, cv, m_train, m_test, m_minute, max_diff, n_test_minutes) -> str:
    scaler: StandardScaler = model.named_steps["scaler"]
    logreg: LogisticRegression = model.named_steps["logreg"]
    units = {"avg_temperature": "°C", "avg_humidity": "% RH", "avg_light": "lux", "avg_co2": "ppm", "reading_count": "rows"}
    feat_rows = "\n".join(
        f"| {i} | `{f}` | {units[f]} | {scaler.mean_[i]:.4f} | {scaler.scale_[i]:.4f} | {logreg.coef_[0][i]:+.4f} |"
        for i, f in enumerate(FEATURES)
    )
    cv_rows = "\n".join(f"| {', '.join(f'`{c}`' for c in cols)} | {pct(s)} |" for cols, s in cv)

    def mrow(name, m):
        c = m["confusion"]
        return (
            f"| {name} | {m['n']} | {m['positives']} ({pct(m['positives'] / m['n'])}) | {pct(m['accuracy'])} | "
            f"{pct(m['precision'])} | {pct(m['recall'])} | {pct(m['f1'])} | {c['tn']}/{c['fp']}/{c['fn']}/{c['tp']} |"
        )

    span = lambda g: f"{g.window_start.min():%Y-%m-%d %H:%M} → {g.window_start.max():%Y-%m-%d %H:%M} UTC"
    return f"""# Model card — `{MODEL_NAME}` (room occupancy from 10-minute sensor windows)

_Generated by `ml/train_occupancy.py`; do not edit by hand, re-run the script._

| | |
|---|---|
| Model version | `{version}` (= `{MODEL_NAME}` + `@` + first 12 hex digits of SHA-256 of `ml/occupancy.onnx`) |
| File | `ml/occupancy.onnx`, SHA-256 `{sha}` |
| Model | scikit-learn `Pipeline(StandardScaler, LogisticRegression(C=1.0, lbfgs))`, scikit-learn {sklearn.__version__} |
| ONNX | skl2onnx {skl2onnx.__version__}, opsets {', '.join(f"`{d or 'ai.onnx'}` {v}" for d, v in opsets)}, float64 throughout, no ZipMap |
| Input | `{INPUT_NAME}`: `double[N, {len(FEATURES)}]`, columns in the order below |
| Outputs | `label`: `int64[N]` (1 = occupied); `probabilities`: `double[N, 2]`, column 1 = P(occupied) |
| Decision | occupied ⇔ P(occupied) > 0.5 (scikit-learn's `predict`) |
| ONNX vs scikit-learn | max \\|ΔP\\| on the {len(test)} test windows = {max_diff:.1e} (tolerance {PARITY_TOLERANCE:g}); labels identical |

## Features (order of the input columns)

Columns of the SQL aggregate `analytics.sensor_readings_10min`, one row per (source, device_id, 10-minute window):

| # | column | unit | scaler mean | scaler scale | coefficient (standardized) |
|---|---|---|---|---|---|
{feat_rows}

Intercept: {logreg.intercept_[0]:+.4f}. The input names are also stored in the ONNX metadata (`feature_names`).

**Window and features, exactly as SQL computes them:**
`window_start = date_bin('10 minutes', event_time, TIMESTAMPTZ '2000-01-01 00:00:00+00')` (timestamps floored
to a multiple of 10 minutes, UTC), `avg_<x>` = plain arithmetic mean (`avg()`) of the readings in the window.
The dataset's `Date` column has no zone; it is read as UTC (that is how the ingest stores it).

**Why this subset.** Candidates were compared by 5-fold forward-chaining (time-series) cross-validation on the
*training* windows only (the test set was not used to choose):

| features | CV accuracy |
|---|---|
{cv_rows}

Light, CO2 and temperature together score best. Humidity adds nothing (alone it is the weakest signal and it
follows outdoor weather rather than people) and makes the model depend on a slowly drifting quantity;
`reading_count` (9–11 for a full window) measures the sensor's sampling, not the room, and would make
partial windows at the edges of a stream look different. Both are left out.

## Training data

UCI Machine Learning Repository, "Occupancy Detection" — L. M. Candanedo & V. Feldheim, *Accurate occupancy
detection of an office room from light, temperature, humidity and CO2 measurements using statistical learning
models*, Energy and Buildings 112 (2016). License **CC BY 4.0**. Copies in `data/uci-occupancy/` (see its
`SOURCE.md`; the copy used drops UCI's row-number column, values unchanged).

* Train: `datatraining.txt`, {int(train.reading_count.sum())} one-minute readings → {len(train)} windows ({span(train)}).
* Test: `datatest.txt`, {n_test_minutes} readings → {len(test)} windows ({span(test)}); it is an earlier, disjoint period.

**Label of a window:** occupied ⇔ mean of the readings' `Occupancy` (0/1 from time-stamped photos) ≥ 0.5.

## Metrics

Precision/recall/F1 for the class "occupied"; confusion = TN/FP/FN/TP.

| set | n | occupied (class balance) | accuracy | precision | recall | F1 | confusion |
|---|---|---|---|---|---|---|---|
{mrow('train windows', m_train)}
{mrow('**test windows** (`datatest.txt`)', m_test)}
{mrow('test minutes (each reading gets its window’s prediction)', m_minute)}

A majority-class baseline on the test windows ("always empty") scores {pct(1 - m_test['positives'] / m_test['n'])}.

## Intended use and limits

* Intended use: dashboards and analytics estimating whether a monitored office room was occupied during each
  10-minute window, from the project's own ingest (`source = uci-occupancy` style devices). Not for safety,
  security, billing, or decisions about individual people.
* One room, one sensor set, 8 days in February 2015 (winter, Belgium). Light dominates: daylight in a different
  room, lamps left on, or a sensor near a window will cause false positives; CO2 levels depend on room volume and
  ventilation. Re-train (or at least re-validate) before using it on another room.
* Needs all three features: windows with a NULL `avg_temperature`, `avg_light` or `avg_co2` (e.g. air-quality
  devices without light/CO2) are skipped by the inference activity, not imputed.
* Windows with very few readings (stream edges) are noisier; the model does not see `reading_count`.
* Probabilities come from a logistic regression; they are reasonably but not formally calibrated.

## How to re-train

```sh
python3 -m venv ml/.venv && ml/.venv/bin/pip install -r ml/requirements.txt
ml/.venv/bin/python ml/train_occupancy.py
```

The script is deterministic (fixed seeds, lbfgs solver, deterministic ONNX serialization): on the pinned versions
it reproduces `ml/occupancy.onnx`, this card and `ml/fixtures/occupancy_parity.json` byte for byte. Any change of
the model changes the ONNX hash and therefore the model version, so predictions of different models never
overwrite each other in `ml.occupancy_predictions`. Then run `npx vitest run test/inference.test.ts`.
"""


if __name__ == "__main__":
    sys.exit(main())
