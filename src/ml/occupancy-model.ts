/**
 * The room-occupancy classifier (`ml/occupancy.onnx`, trained by `ml/train_occupancy.py`, described in
 * `ml/MODEL_CARD.md`) run with onnxruntime-node.
 *
 * The model declares, in its ONNX `metadata_props`, its name (`model_name`), the name of its input
 * (`input_name`) and the aggregate columns it reads in input-column order (`feature_names`, e.g.
 * `avg_temperature,avg_light,avg_co2`). The loader checks them against the session's input/output
 * signature, so a re-trained model with another feature subset is fed correctly or refused clearly.
 *
 * Model version: `<model_name>@<first 12 hex digits of SHA-256 of the ONNX file>`, the same string the
 * training script writes into the model card and the parity fixture.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { ROOT_DIR } from '../config/env';
import { InvalidFeaturesError, ModelFileError, ModelSignatureError } from './errors';
import { readOnnxMetadata } from './onnx-metadata';

/**
 * Numeric columns of the 10-minute aggregate (`analytics.sensor_readings_10min`) a model may use as
 * features. Units: °C, % relative humidity, lux, ppm, readings per window.
 */
export const AGGREGATE_FEATURE_COLUMNS = ['avg_temperature', 'avg_humidity', 'avg_light', 'avg_co2', 'reading_count'] as const;

/** One column of {@link AGGREGATE_FEATURE_COLUMNS}. */
export type FeatureColumn = (typeof AGGREGATE_FEATURE_COLUMNS)[number];

/**
 * Features of one 10-minute window, named like the aggregate's columns (plain means of the window's
 * readings, see `ml/MODEL_CARD.md`). Only the columns in the model's `featureNames` are read; each of
 * those must be a finite number.
 */
export interface OccupancyFeatures {
  /** Mean temperature, °C. */
  avg_temperature?: number | null;
  /** Mean relative humidity, %. */
  avg_humidity?: number | null;
  /** Mean illuminance, lux. */
  avg_light?: number | null;
  /** Mean CO2 concentration, ppm. */
  avg_co2?: number | null;
  /** Readings in the window. */
  reading_count?: number | null;
}

/** Prediction for one window. */
export interface OccupancyPrediction {
  /** P(occupied), 0..1 (column 1 of the model's `probabilities` output). */
  probability: number;
  /** The model's `label` output (1 ⇔ occupied; scikit-learn's decision P > 0.5). */
  occupied: boolean;
}

/** A loaded occupancy model. */
export interface OccupancyModel {
  /** `<model_name>@<sha256[:12]>`, e.g. `occupancy-logreg-v1@7589e0b962ef`. */
  readonly modelVersion: string;
  /** Feature columns in the model's input order. */
  readonly featureNames: readonly FeatureColumn[];
  /** Absolute path of the loaded file. */
  readonly path: string;
  /**
   * Predicts a batch in one session run; result `i` belongs to `rows[i]`. An empty batch returns `[]`.
   * @throws InvalidFeaturesError when a row lacks one of {@link featureNames} or holds a non-finite value.
   */
  predict(rows: readonly OccupancyFeatures[]): Promise<OccupancyPrediction[]>;
  /** Releases the native session. */
  release(): Promise<void>;
}

/** Output names the model must have (skl2onnx classifier with `zipmap=False`). */
export const LABEL_OUTPUT = 'label';
export const PROBABILITIES_OUTPUT = 'probabilities';

/**
 * Model path: `OCCUPANCY_MODEL_PATH` when set, else `<ROOT_DIR>/ml/occupancy.onnx`.
 */
export function defaultOccupancyModelPath(): string {
  const p = process.env.OCCUPANCY_MODEL_PATH;
  return p ? path.resolve(p) : path.join(ROOT_DIR, 'ml', 'occupancy.onnx');
}

/** Options of {@link loadOccupancyModel}. */
export interface LoadOccupancyModelOptions {
  /** ONNX file. @default {@link defaultOccupancyModelPath}() */
  path?: string;
}

function describe(meta: readonly ort.InferenceSession.ValueMetadata[]): string {
  if (meta.length === 0) return 'none';
  return meta
    .map((m) =>
      m.isTensor
        ? `"${m.name}": ${m.type}[${m.shape.map((d) => (typeof d === 'number' ? d : 'N')).join(', ')}]`
        : `"${m.name}": non-tensor`,
    )
    .join(', ');
}

/**
 * Loads the model and checks its signature: one input `<input_name>` of type float64 and shape
 * `[N, featureNames.length]`; outputs `label` (int64 `[N]`) and `probabilities` (float64 `[N, 2]`).
 * @throws ModelFileError when the file is missing/unreadable, not an ONNX model, or lacks the metadata
 *   `model_name` / `feature_names`, or names a feature that is not an aggregate column.
 * @throws ModelSignatureError when the inputs or outputs differ from the above (the message says what was expected).
 */
export async function loadOccupancyModel(options: LoadOccupancyModelOptions = {}): Promise<OccupancyModel> {
  const file = path.resolve(options.path ?? defaultOccupancyModelPath());
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ModelFileError(
      file,
      code === 'ENOENT'
        ? 'file not found; train it with `ml/.venv/bin/python ml/train_occupancy.py` or set OCCUPANCY_MODEL_PATH'
        : `cannot read the file (${code ?? String(e)})`,
    );
  }
  let metadata: Record<string, string>;
  try {
    metadata = readOnnxMetadata(bytes);
  } catch (e) {
    throw new ModelFileError(file, `not an ONNX model (${(e as Error).message})`);
  }
  const modelName = metadata.model_name;
  const featureList = metadata.feature_names;
  if (!modelName || !featureList) {
    throw new ModelFileError(
      file,
      `ONNX metadata_props must contain "model_name" and "feature_names" (written by ml/train_occupancy.py); found keys [${Object.keys(metadata).join(', ')}]`,
    );
  }
  const featureNames = featureList.split(',').map((s) => s.trim());
  const unknown = featureNames.filter((f) => !(AGGREGATE_FEATURE_COLUMNS as readonly string[]).includes(f));
  if (unknown.length > 0 || featureNames.length === 0) {
    throw new ModelFileError(
      file,
      `feature_names ${JSON.stringify(featureList)} must be aggregate columns among ${AGGREGATE_FEATURE_COLUMNS.join(', ')}`,
    );
  }
  const inputName = metadata.input_name || 'features';

  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes);
  } catch (e) {
    throw new ModelFileError(file, `onnxruntime cannot load it: ${(e as Error).message}`);
  }

  const k = featureNames.length;
  const inputs = session.inputMetadata;
  const input = inputs[0];
  const inputOk =
    inputs.length === 1 &&
    input !== undefined &&
    input.name === inputName &&
    input.isTensor &&
    input.type === 'float64' &&
    input.shape.length === 2 &&
    typeof input.shape[0] !== 'number' &&
    input.shape[1] === k;
  if (!inputOk) {
    await session.release();
    throw new ModelSignatureError(
      file,
      `one input "${inputName}": float64[N, ${k}] (features ${featureNames.join(', ')})`,
      `inputs ${describe(inputs)}`,
    );
  }
  const outputs = session.outputMetadata;
  const label = outputs.find((o) => o.name === LABEL_OUTPUT);
  const proba = outputs.find((o) => o.name === PROBABILITIES_OUTPUT);
  const outputsOk =
    label?.isTensor === true &&
    label.type === 'int64' &&
    proba?.isTensor === true &&
    proba.type === 'float64' &&
    proba.shape.length === 2 &&
    proba.shape[1] === 2;
  if (!outputsOk) {
    await session.release();
    throw new ModelSignatureError(
      file,
      `outputs "${LABEL_OUTPUT}": int64[N] and "${PROBABILITIES_OUTPUT}": float64[N, 2] (export with zipmap=False and DoubleTensorType)`,
      `outputs ${describe(outputs)}`,
    );
  }

  const modelVersion = `${modelName}@${createHash('sha256').update(bytes).digest('hex').slice(0, 12)}`;
  const names = featureNames as FeatureColumn[];

  return {
    modelVersion,
    featureNames: names,
    path: file,
    async predict(rows) {
      const n = rows.length;
      if (n === 0) return [];
      const data = new Float64Array(n * k);
      rows.forEach((row, i) => {
        names.forEach((f, j) => {
          const v = row[f];
          if (typeof v !== 'number' || !Number.isFinite(v)) throw new InvalidFeaturesError(i, f, v);
          data[i * k + j] = v;
        });
      });
      const out = await session.run({ [inputName]: new ort.Tensor('float64', data, [n, k]) }, [LABEL_OUTPUT, PROBABILITIES_OUTPUT]);
      const labels = out[LABEL_OUTPUT]?.data as BigInt64Array;
      const probs = out[PROBABILITIES_OUTPUT]?.data as Float64Array;
      if (labels?.length !== n || probs?.length !== 2 * n) {
        throw new ModelSignatureError(
          file,
          `${n} labels and ${n}x2 probabilities`,
          `${labels?.length} labels and ${probs?.length} probabilities`,
        );
      }
      return Array.from({ length: n }, (_, i) => ({ probability: probs[2 * i + 1] as number, occupied: labels[i] === 1n }));
    },
    release: () => session.release(),
  };
}
