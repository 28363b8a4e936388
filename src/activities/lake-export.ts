/** Lake activities: export one hour of raw events and dead letters to Parquet (src/lake). */
import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from '../db/pool';
import { exportHour, LAKE_DATASETS } from '../lake/export';
import { DuckDbLakeWriter, type LakePartition, type LakeWriter } from '../lake/writer';

/** Input of `exportLakeHour`. */
export interface ExportLakeHourInput {
  /** Start of the hour, ISO-8601 (whole UTC hour). */
  hour: string;
  /** @default every dataset */
  datasets?: string[];
  /** Only rows of these sources (tests). */
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
     * Replaces the hour's partitions of every dataset.
     * @throws ApplicationFailure (non-retryable) for a bad hour or unknown dataset.
     */
    async exportLakeHour(input: ExportLakeHourInput): Promise<LakePartition[]> {
      const hour = new Date(input.hour);
      if (!Number.isFinite(hour.getTime()) || hour.getTime() % 3_600_000 !== 0) {
        throw ApplicationFailure.nonRetryable(`hour ${JSON.stringify(input.hour)} is not a whole UTC hour`, 'InvalidInput');
      }
      const unknown = (input.datasets ?? []).filter((d) => !(d in LAKE_DATASETS));
      if (unknown.length) throw ApplicationFailure.nonRetryable(`unknown dataset(s) ${unknown.join(', ')}`, 'InvalidInput');
      return exportHour({ pool, writer: w, hour, datasets: input.datasets, sources: input.sources });
    },
  };
}

export type LakeActivities = ReturnType<typeof createLakeActivities>;
