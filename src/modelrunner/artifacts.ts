/**
 * Stage 6 (artifacts): `target/manifest.json` and `target/run_results.json` with dbt's field names
 * (https://docs.getdbt.com/reference/artifacts/manifest-json, .../run-results-json). Files are written
 * to a temporary name and renamed, so a reader never sees half a file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Manifest, NodeResult, RunResults } from './types';

export const MANIFEST_FILE = 'manifest.json';
export const RUN_RESULTS_FILE = 'run_results.json';

function writeJsonAtomic(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomUUID()}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  fs.renameSync(tmp, file);
}

/**
 * Writes `<manifest.target_dir>/manifest.json`.
 * @returns the file path.
 */
export function writeManifest(manifest: Manifest): string {
  const file = path.join(manifest.target_dir, MANIFEST_FILE);
  writeJsonAtomic(file, manifest);
  return file;
}

/** Whole-run elapsed seconds from the nodes' timings (first start to last completion); 0 without timings. */
export function elapsedFromTimings(results: NodeResult[]): number {
  const starts = results.flatMap((r) => r.timing.map((t) => Date.parse(t.started_at)));
  const ends = results.flatMap((r) => r.timing.map((t) => Date.parse(t.completed_at)));
  if (starts.length === 0) return 0;
  return (Math.max(...ends) - Math.min(...starts)) / 1000;
}

/** Builds the run_results.json document. */
export function makeRunResults(
  results: NodeResult[],
  opts: { invocationId?: string; elapsedTime?: number; args?: Record<string, unknown> } = {},
): RunResults {
  return {
    metadata: {
      dbt_schema_version: 'https://schemas.getdbt.com/dbt/run-results/v6.json',
      generated_at: new Date().toISOString(),
      invocation_id: opts.invocationId ?? randomUUID(),
    },
    results,
    elapsed_time: opts.elapsedTime ?? elapsedFromTimings(results),
    args: opts.args ?? {},
  };
}

/**
 * Writes `<targetDir>/run_results.json`.
 * @returns the file path.
 */
export function writeRunResultsFile(targetDir: string, runResults: RunResults): string {
  const file = path.join(targetDir, RUN_RESULTS_FILE);
  writeJsonAtomic(file, runResults);
  return file;
}
