/**
 * The occupancy inference activity: reads the 10-minute aggregate rows of a data interval, predicts
 * them in one batch with the ONNX model (src/ml/occupancy-model.ts) and replaces that interval's
 * predictions for that model version in ONE transaction, so re-running a window never duplicates.
 * Each prediction carries its lineage: the workflow run that made it and the ingest batches of the
 * aggregate row it was made from.
 */
import { trace } from '@opentelemetry/api';
import { metrics } from '../observability/metrics';
import { ApplicationFailure } from '@temporalio/common';
import { workflowRunId } from './context';
import type { Pool } from '../db/pool';
import { isTransientDbError } from '../db/errors';
import { InferenceInputError, OccupancyModelError } from '../ml/errors';
import type { FeatureColumn, OccupancyFeatures, OccupancyModel } from '../ml/occupancy-model';

/** Aggregate the activity reads by default (built by the model runner). */
export const DEFAULT_AGGREGATE_RELATION = 'analytics.sensor_readings_10min';
/** Table the predictions are written to (src/db/migrations/002_analytics.sql). */
export const DEFAULT_PREDICTIONS_TABLE = 'ml.occupancy_predictions';

/** Input of `predictOccupancy`. */
export interface PredictOccupancyInput {
  /** Inclusive start of the data interval, ISO 8601 with a time zone (`Z` or `±hh:mm`) or a plain date (UTC). */
  dataIntervalStart: string;
  /** Exclusive end of the data interval, same format; must be after the start. */
  dataIntervalEnd: string;
  /**
   * Aggregate to read, `schema.table` (plain identifiers `[A-Za-z_][A-Za-z0-9_$]*`). It must have the
   * columns `source, device_id, window_start` and the model's feature columns.
   * @default 'analytics.sensor_readings_10min'
   */
  relation?: string;
}

/** Result of `predictOccupancy`. */
export interface PredictOccupancyResult {
  /** Aggregate rows with `window_start` in the interval. */
  windows: number;
  /** Rows predicted and written. */
  predicted: number;
  /** Rows skipped because one of the model's features is NULL (e.g. air-quality devices without light/CO2). */
  skipped: number;
  /** Model version the predictions were written under. */
  modelVersion: string;
}

/** Clients the inference activities need. */
export interface InferenceDeps {
  pool: Pool;
  model: OccupancyModel;
  /** Predictions table, `schema.table` (tests point it at a copy). @default 'ml.occupancy_predictions' */
  predictionsTable?: string;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?))?$/i;

/**
 * Validates `schema.table` and returns it quoted (`"schema"."table"`).
 * @throws InferenceInputError when it is not two plain identifiers separated by a dot.
 */
export function quoteRelationName(name: string, field = 'relation'): string {
  const parts = typeof name === 'string' ? name.split('.') : [];
  if (parts.length !== 2 || !parts.every((p) => IDENT.test(p))) {
    throw new InferenceInputError(
      field,
      `${JSON.stringify(name)} must be "schema.table", each part matching [A-Za-z_][A-Za-z0-9_$]* (at most 63 characters)`,
    );
  }
  return parts.map((p) => `"${p}"`).join('.');
}

/**
 * Parses one interval bound.
 * @throws InferenceInputError when it is not an ISO 8601 instant with a time zone (or a plain date) or not a real date.
 */
function parseInstant(field: string, value: unknown): Date {
  if (typeof value !== 'string' || !ISO_INSTANT.test(value.trim())) {
    throw new InferenceInputError(field, `${JSON.stringify(value)} is not an ISO 8601 instant with a time zone, e.g. 2015-02-02T14:00:00Z`);
  }
  const d = new Date(value.trim());
  if (Number.isNaN(d.getTime())) throw new InferenceInputError(field, `${JSON.stringify(value)} is not a valid date`);
  return d;
}

/** Maps an error to a Temporal failure: input/model problems and permanent SQL errors are non-retryable. */
function toFailure(e: unknown): unknown {
  if (e instanceof ApplicationFailure) return e;
  if (e instanceof OccupancyModelError) {
    return ApplicationFailure.create({ message: e.message, type: e.name, nonRetryable: !e.retryable, cause: e });
  }
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' || isTransientDbError(e)) {
    const transient = isTransientDbError(e);
    return ApplicationFailure.create({
      message: `database error${typeof code === 'string' ? ` ${code}` : ''}: ${(e as Error).message}`,
      type: transient ? 'TransientDatabaseError' : 'DatabaseError',
      nonRetryable: !transient,
      cause: e as Error,
    });
  }
  return e;
}

interface AggregateRow {
  source: string;
  device_id: string;
  window_start: Date;
  /** The row's ingest batches (JSON array), or null when the relation has no such column. */
  ingest_batch_ids: unknown[] | null;
  [feature: string]: unknown;
}

/** Builds the inference activities. */
export function createInferenceActivities({ pool, model, predictionsTable = DEFAULT_PREDICTIONS_TABLE }: InferenceDeps) {
  const target = quoteRelationName(predictionsTable, 'predictionsTable');
  return {
    /**
     * Predicts occupancy for every aggregate row with `window_start` in `[dataIntervalStart, dataIntervalEnd)`
     * and, in one transaction, deletes the predictions table's rows of that interval for `model.modelVersion`
     * and inserts the new ones. Rows with a NULL feature are skipped (counted in `skipped`).
     * @throws ApplicationFailure (non-retryable) for an invalid interval or relation name, an invalid model,
     *   a missing relation/column or another permanent SQL error; retryable for connection failures,
     *   deadlocks and serialization failures.
     */
    async predictOccupancy(input: PredictOccupancyInput): Promise<PredictOccupancyResult> {
      const t0 = performance.now();
      try {
        const start = parseInstant('dataIntervalStart', input?.dataIntervalStart);
        const end = parseInstant('dataIntervalEnd', input?.dataIntervalEnd);
        if (end.getTime() <= start.getTime()) {
          throw new InferenceInputError(
            'dataIntervalEnd',
            `${input.dataIntervalEnd} must be after dataIntervalStart ${input.dataIntervalStart} (the interval is [start, end))`,
          );
        }
        const relation = quoteRelationName(input.relation ?? DEFAULT_AGGREGATE_RELATION);
        const features: readonly FeatureColumn[] = model.featureNames;
        const featureSql = features.map((f) => `"${f}"::float8 AS "${f}"`).join(', ');

        // Lineage: the aggregate row's ingest batches, when the relation has them (to_jsonb reads a
        // column that may be missing as NULL instead of failing).
        const { rows } = await pool.query<AggregateRow>(
          `SELECT source, device_id, window_start, ${featureSql}, to_jsonb(a) -> 'ingest_batch_ids' AS ingest_batch_ids
             FROM ${relation} a
            WHERE window_start >= $1 AND window_start < $2
            ORDER BY source, device_id, window_start`,
          [start, end],
        );
        const usable = rows.filter((r) => features.every((f) => r[f] !== null && r[f] !== undefined));
        const predictions = await model.predict(usable as OccupancyFeatures[]);

        const client = await pool.connect();
        let clientError: Error | undefined;
        try {
          await client.query('BEGIN');
          await client.query(`DELETE FROM ${target} WHERE model_version = $1 AND window_start >= $2 AND window_start < $3`, [
            model.modelVersion,
            start,
            end,
          ]);
          if (usable.length > 0) {
            await client.query(
              `INSERT INTO ${target} (source, device_id, window_start, model_version, occupied, probability, workflow_run_id, ingest_batch_ids)
               SELECT s, d, w, $1, o, p, $7, b::bigint[]
                 FROM unnest($2::text[], $3::text[], $4::timestamptz[], $5::boolean[], $6::float8[], $8::text[]) AS u(s, d, w, o, p, b)`,
              [
                model.modelVersion,
                usable.map((r) => r.source),
                usable.map((r) => r.device_id),
                usable.map((r) => r.window_start.toISOString()),
                predictions.map((p) => p.occupied),
                predictions.map((p) => p.probability),
                workflowRunId(),
                usable.map((r) => (Array.isArray(r.ingest_batch_ids) ? `{${r.ingest_batch_ids.map(Number).join(',')}}` : null)),
              ],
            );
          }
          await client.query('COMMIT');
        } catch (e) {
          clientError = e as Error;
          await client.query('ROLLBACK').catch(() => {});
          throw e;
        } finally {
          // A client whose connection broke must not go back to the pool.
          client.release(clientError !== undefined && isTransientDbError(clientError) ? clientError : undefined);
        }
        trace.getActiveSpan()?.setAttributes({
          'iot.model_version': model.modelVersion,
          'iot.rows': usable.length,
          'iot.skipped': rows.length - usable.length,
        });
        metrics.inferenceRows.inc({ model_version: model.modelVersion }, usable.length);
        metrics.inferenceSeconds.observe({ model_version: model.modelVersion }, (performance.now() - t0) / 1000);
        return { windows: rows.length, predicted: usable.length, skipped: rows.length - usable.length, modelVersion: model.modelVersion };
      } catch (e) {
        throw toFailure(e);
      }
    },
  };
}

export type InferenceActivities = ReturnType<typeof createInferenceActivities>;
