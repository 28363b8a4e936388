/**
 * Errors of the occupancy model and its inference activity. Each carries its context as readonly fields;
 * `retryable` is decided here (at the source) and mapped to `ApplicationFailure` at the activity boundary.
 */

/** Base class. Not retryable: a wrong file, model or input does not fix itself. */
export class OccupancyModelError extends Error {
  /** True when running the same thing again may succeed. */
  readonly retryable: boolean = false;
  override name = 'OccupancyModelError';
}

/** The ONNX file is missing, unreadable, not a valid model, or lacks the metadata the loader needs. */
export class ModelFileError extends OccupancyModelError {
  override name = 'ModelFileError';
  constructor(
    /** Absolute path of the model file. */
    readonly path: string,
    readonly detail: string,
  ) {
    super(`occupancy model ${path}: ${detail}`);
  }
}

/** The model's inputs/outputs (names, element types, shapes) are not what the loader expects. */
export class ModelSignatureError extends OccupancyModelError {
  override name = 'ModelSignatureError';
  constructor(
    readonly path: string,
    /** What the loader expected, human-readable (e.g. `input "features": float64[N, 3]`). */
    readonly expected: string,
    /** What the model declares. */
    readonly actual: string,
  ) {
    super(`occupancy model ${path}: expected ${expected}, but the model has ${actual}`);
  }
}

/** A feature row passed to `predict` lacks a feature or holds a non-finite value. */
export class InvalidFeaturesError extends OccupancyModelError {
  override name = 'InvalidFeaturesError';
  constructor(
    /** Index of the row in the batch. */
    readonly rowIndex: number,
    /** Feature column name. */
    readonly feature: string,
    readonly value: unknown,
  ) {
    super(`row ${rowIndex}: feature ${feature} must be a finite number, got ${JSON.stringify(value)}`);
  }
}

/** Input of the inference activity is invalid (interval, relation name). */
export class InferenceInputError extends OccupancyModelError {
  override name = 'InferenceInputError';
  constructor(
    /** Name of the offending input field. */
    readonly field: string,
    readonly detail: string,
  ) {
    super(`${field}: ${detail}`);
  }
}
