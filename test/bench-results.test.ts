/** bench/results-file.ts: a partial bench run merges into latest.json instead of replacing it. */
import { describe, expect, it } from 'vitest';
import type { BenchResults } from '../bench/report';
import { mergeWithPrevious, type StoredResults } from '../bench/results-file';

const machine = { cpus: 2, cpuModel: 'x', memoryGiB: 24, node: '20', platform: 'linux' };
const base = (startedAt: string): BenchResults => ({
  startedAt,
  durationSeconds: 1,
  warmup: 0,
  machine,
  temporal: { address: 'a', workerOptions: {} },
});

describe('bench results file', () => {
  it('keeps the parts and sections a partial run did not measure, with when they were measured', () => {
    const previous: StoredResults = {
      ...base('2026-12-01T10:00:00.000Z'),
      ingest: { marker: 'old ingest' } as unknown as BenchResults['ingest'],
      models: { marker: 'old models' } as unknown as BenchResults['models'],
      sections: { models: 'old models md', streams: 'old streams md' },
      measuredAt: { models: '2026-11-30T09:00:00.000Z' },
    };
    const now = { ...base('2026-12-03T12:00:00.000Z'), models: { marker: 'new models' } as unknown as BenchResults['models'] };
    const merged = mergeWithPrevious(now, new Map([['models', 'new models md']]), previous);
    expect(merged.models).toEqual({ marker: 'new models' });
    expect(merged.ingest).toEqual({ marker: 'old ingest' });
    expect(merged.sections).toEqual({ models: 'new models md', streams: 'old streams md' });
    // The previous file had no time for ingest: its run's start.
    expect(merged.measuredAt).toEqual({ models: '2026-12-03T12:00:00.000Z', ingest: '2026-12-01T10:00:00.000Z' });
    expect(merged.startedAt).toBe('2026-12-03T12:00:00.000Z');
  });

  it('is this run alone when there is no previous file', () => {
    const now = { ...base('2026-12-03T12:00:00.000Z'), models: { marker: 'm' } as unknown as BenchResults['models'] };
    expect(mergeWithPrevious(now, new Map(), undefined)).toMatchObject({ sections: {}, measuredAt: { models: now.startedAt } });
  });
});
