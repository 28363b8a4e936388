/**
 * `bench/results/latest.json` across partial runs: a run with `--only=…` keeps the parts it did not
 * measure from the previous file (with when they were measured) instead of replacing the file.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BenchResults } from './report';

/** Parts of `latest.json` a partial run (`--only`) keeps from the previous run when it does not measure them. */
export const MERGED_PARTS = ['latency', 'ingest', 'streams', 'streamsSoak', 'sources', 'models', 'startup', 'peers', 'cluster'] as const;
/** Order of the markdown sections after the summary in `latest.md`. */
export const SECTION_ORDER = ['streams', 'streamsSoak', 'sources', 'recovery', 'models', 'cluster'] as const;

/** What `latest.json` holds beyond {@link BenchResults}: each part's markdown and when it was measured. */
export type StoredResults = BenchResults & { sections?: Record<string, string>; measuredAt?: Record<string, string> };

/** The previous run's `latest.json` in `dir`, if there is one that parses. */
export function readPrevious(dir: string): StoredResults | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'latest.json'), 'utf8')) as StoredResults;
  } catch {
    return undefined;
  }
}

/**
 * This run's results with the parts it did not measure taken from the previous `latest.json`, so
 * `--only=…` updates its parts of `latest.md` instead of replacing the file. Each part keeps the time
 * it was measured (a previous file without `measuredAt` counts as measured at its `startedAt`).
 */
export function mergeWithPrevious(results: BenchResults, sections: Map<string, string>, previous?: StoredResults): StoredResults {
  const merged: StoredResults = { ...results, sections: Object.fromEntries(sections), measuredAt: {} };
  const target = merged as unknown as Record<string, unknown>;
  const before = previous as unknown as Record<string, unknown> | undefined;
  for (const k of MERGED_PARTS) {
    if (results[k] !== undefined) merged.measuredAt![k] = results.startedAt;
    else if (before?.[k] !== undefined) {
      target[k] = before[k];
      merged.measuredAt![k] = previous!.measuredAt?.[k] ?? previous!.startedAt;
    }
  }
  for (const k of SECTION_ORDER) {
    if (!sections.has(k) && previous?.sections?.[k] !== undefined) merged.sections![k] = previous.sections[k];
  }
  return merged;
}
