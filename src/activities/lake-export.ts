/** Lake activities: export one hour of raw events and dead letters to Parquet (src/lake). */
import fs from 'node:fs';
import path from 'node:path';
import { metrics } from '../observability/metrics';
import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from '../db/pool';
import { exportHour, LAKE_DATASETS, type LakePartition } from '../lake/export';
import { LakeSourceNameError } from '../lake/layout';
import { DuckDbLakeWriter, type LakeWriter } from '../lake/writer';

/** Input of `exportLakeHour`. */
export interface ExportLakeHourInput {
  /** Start of the hour, ISO-8601 (whole UTC hour). */
  hour: string;
  /**
   * Datasets to export: raw tables (`sensor_readings`, `modem_telemetry`, `gps_fixes`) and/or `errors`
   * (see `ExportHourOptions.datasets` in src/lake/export.ts). @default every dataset
   */
  datasets?: string[];
  /** Only the partitions of these sources. @default every source */
  sources?: string[];
}

/** Clients the lake activities need. */
export interface LakeDeps {
  pool: Pool;
  /** Lake root folder (local). */
  lakeDir: string;
  /** Another writer (e.g. an object store); @default DuckDB on `lakeDir` */
  writer?: LakeWriter;
}

/** Builds the lake activities. */
export function createLakeActivities({ pool, lakeDir, writer }: LakeDeps) {
  const w = writer ?? new DuckDbLakeWriter(lakeDir);
  return {
    /**
     * Exports the hour: replaces the partition of every source with raw events or dead letters in it
     * (`<source>/dt=…/hour=…`, `errors/<source>/dt=…/hour=…`) and removes the hour's partitions an
     * earlier export wrote that are no longer produced.
     * @returns the written partitions, then the removed ones (`status: 'removed'`)
     * @throws ApplicationFailure (non-retryable) `InvalidInput` for a bad hour or unknown dataset;
     *   `LakeSourceNameError` when a source cannot be a lake folder (named `errors`), raised after the
     *   hour's other partitions are exported
     */
    async exportLakeHour(input: ExportLakeHourInput): Promise<LakePartition[]> {
      const hour = new Date(input.hour);
      if (!Number.isFinite(hour.getTime()) || hour.getTime() % 3_600_000 !== 0) {
        throw ApplicationFailure.nonRetryable(`hour ${JSON.stringify(input.hour)} is not a whole UTC hour`, 'InvalidInput');
      }
      const unknown = (input.datasets ?? []).filter((d) => !(d in LAKE_DATASETS));
      if (unknown.length) {
        throw ApplicationFailure.nonRetryable(
          `unknown dataset(s) ${unknown.join(', ')}; choose from ${Object.keys(LAKE_DATASETS).join(', ')}`,
          'InvalidInput',
        );
      }
      try {
        const partitions = await exportHour({ pool, writer: w, hour, datasets: input.datasets, sources: input.sources });
        for (const p of partitions) {
          if (p.status !== 'written') continue;
          metrics.lakeFiles.inc({ source: p.source }, p.files.length);
          const bytes = p.files.reduce((sum, f) => sum + (fs.statSync(path.join(lakeDir, f), { throwIfNoEntry: false })?.size ?? 0), 0);
          metrics.lakeBytes.inc({ source: p.source }, bytes);
        }
        return partitions;
      } catch (e) {
        if (e instanceof LakeSourceNameError) {
          throw ApplicationFailure.create({
            message: e.message,
            type: 'LakeSourceNameError',
            nonRetryable: true,
            details: [{ source: e.source }],
          });
        }
        throw e;
      }
    },
  };
}

export type LakeActivities = ReturnType<typeof createLakeActivities>;
