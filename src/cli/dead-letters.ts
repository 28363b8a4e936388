/**
 * `dead-letters list` and `dead-letters redrive`: inspect what ingest rejected and, once the cause is
 * fixed, validate it again and write what now passes (src/ingest/redrive.ts).
 */
import { InvalidArgumentError, type Command } from 'commander';
import { databaseUrl, loadSettings } from '../config/env';
import { createPool } from '../db/pool';
import { listDeadLetters, redriveDeadLetters, REDRIVE_PAGE_SIZE, type DeadLetterFilter, type RedriveResult } from '../ingest/redrive';
import { positiveInt } from './args';

/** Longest payload excerpt printed by `list`, characters. */
const PAYLOAD_PREVIEW = 80;

interface FilterFlags {
  id?: string[];
  source?: string;
  code?: string;
  since?: string;
}

function toFilter(o: FilterFlags): DeadLetterFilter {
  const ids = (o.id ?? []).map((v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`--id must be a positive integer, got ${JSON.stringify(v)}.`);
    return n;
  });
  let since: Date | undefined;
  if (o.since !== undefined) {
    since = new Date(o.since);
    if (!Number.isFinite(since.getTime()))
      throw new InvalidArgumentError(`--since must be an ISO 8601 time like 2024-05-01T12:00:00Z, got ${JSON.stringify(o.since)}.`);
  }
  return { ids: ids.length ? ids : undefined, source: o.source, code: o.code, since };
}

/** Printable excerpt of a payload: UTF-8 (invalid bytes replaced), control characters escaped. */
export function payloadPreview(payload: Buffer, max = PAYLOAD_PREVIEW): string {
  const text = payload.toString('utf8').replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return text.length > max ? `${text.slice(0, max)}… (${payload.length} bytes)` : text;
}

/** The summary `redrive` prints. */
export function describeRedrive(r: RedriveResult): string {
  const lines = [
    `${r.dryRun ? 'Dry run: would re-drive' : 'Re-drove'} ${r.redriven} of ${r.examined} open dead letter(s)` +
      `${r.dryRun ? '' : `, ${r.inserted} row(s) inserted`}${r.batchIds.length ? ` (batch ${r.batchIds.join(', ')})` : ''}` +
      `${r.pages > 1 ? ` in ${r.pages} transactions` : ''}.`,
  ];
  if (r.stillInvalidCount) {
    lines.push(`${r.stillInvalidCount} still fail validation:`);
    for (const x of r.stillInvalid) lines.push(`  #${x.id} ${x.code}: ${x.reason}`);
    if (r.stillInvalidCount > r.stillInvalid.length) lines.push(`  … and ${r.stillInvalidCount - r.stillInvalid.length} more`);
  }
  if (r.unknownKind.length) {
    lines.push(
      `${r.unknownKind.length} have no recorded message kind (ids ${r.unknownKind.slice(0, 20).join(', ')}${r.unknownKind.length > 20 ? ', …' : ''}): ` +
        `pass --kind <source file name> (e.g. sensor, modem, gps).`,
    );
  }
  return lines.join('\n');
}

/** Adds the `dead-letters` commands to `program`. */
export function registerDeadLetterCommands(program: Command): void {
  const dl = program.command('dead-letters').description('Inspect and re-drive ingest.dead_letters (rejected messages with their reason).');
  const filters = (c: Command) =>
    c
      .option('--id <id...>', 'only these dead letters')
      .option('--source <name>', 'only this source')
      .option('--code <code>', 'only this error code (not_json, schema, future_timestamp, …)')
      .option('--since <time>', 'only letters received at or after this ISO 8601 time');
  filters(dl.command('list'))
    .description('Open dead letters, newest first.')
    .option('--all', 'include letters already re-driven', false)
    .option('--limit <n>', 'most rows', positiveInt('--limit'), 50)
    .action(async (o: FilterFlags & { all: boolean; limit: number }) => {
      const pool = createPool(databaseUrl(loadSettings()), 2);
      try {
        const rows = await listDeadLetters(pool, toFilter(o), { includeRedriven: o.all, limit: o.limit });
        if (!rows.length) {
          console.log('No dead letters match.');
          return;
        }
        console.table(
          rows.map((r) => ({
            id: r.id,
            source: r.source,
            kind: r.kind ?? '?',
            code: r.errorCode,
            reason: r.reason,
            received: r.receivedAt.toISOString(),
            redriven: r.redrivenAt ? `${r.redrivenAt.toISOString()} (batch ${r.redrivenBatchId})` : '',
            payload: payloadPreview(r.payload),
          })),
        );
      } finally {
        await pool.end();
      }
    });
  filters(dl.command('redrive'))
    .description(
      'Validate open dead letters again with the current rules and write those that now pass (same keys), oldest first, ' +
        'one transaction per page; each is marked re-driven, the rest stay.',
    )
    .option('--kind <name>', 'source file for letters that carry none (e.g. sensor, modem, gps)')
    .option('--limit <n>', 'most letters taken, oldest first (default: all that match)', positiveInt('--limit'))
    .option('--page-size <n>', `letters per transaction (default ${REDRIVE_PAGE_SIZE})`, positiveInt('--page-size'))
    .option('--dry-run', 'validate and count, write nothing', false)
    .action(async (o: FilterFlags & { kind?: string; limit?: number; pageSize?: number; dryRun: boolean }) => {
      const pool = createPool(databaseUrl(loadSettings()), 2);
      try {
        const r = await redriveDeadLetters(pool, {
          ...toFilter(o),
          kind: o.kind,
          limit: o.limit,
          pageSize: o.pageSize,
          dryRun: o.dryRun,
        });
        console.log(describeRedrive(r));
      } finally {
        await pool.end();
      }
    });
}
