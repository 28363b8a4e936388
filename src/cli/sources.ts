/**
 * `sources` commands: list, validate, test and apply the declared sources (`sources/*.yaml`,
 * `SOURCES_DIR`). `test` is the edit loop (like `telegraf --test`): it prints the row a payload would
 * become, or the dead-letter code and reason, and writes nothing.
 */
import fs from 'node:fs';
import { Command } from 'commander';
import { databaseUrl, kafkaBrokers, loadSettings } from '../config/env';
import { createPool } from '../db/pool';
import { loadSources, sourcesDir, SourceFileError, type LoadedSource } from '../sources/load';
import { withClient } from './client';

function load(): Map<string, LoadedSource> {
  try {
    return loadSources();
  } catch (e) {
    if (e instanceof SourceFileError) {
      console.error(`${e.problems.length} problem${e.problems.length === 1 ? '' : 's'} in ${sourcesDir()}:\n${e.message}`);
      process.exit(1);
    }
    throw e;
  }
}

function transport(s: LoadedSource): string {
  const d = s.declaration;
  return d.mqtt
    ? `mqtt ${d.mqtt.topic}${d.mqtt.share_group ? ` ($share/${d.mqtt.share_group})` : ''}`
    : `kafka ${d.kafka!.topics?.join(',') ?? `/${d.kafka!.topic_pattern}/`} (group ${d.kafka!.group})`;
}

async function readPayload(file: string): Promise<Buffer> {
  if (file !== '-') return fs.readFileSync(file);
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The row of `s`'s table a mapped row becomes, column → value, as `sources test` prints it. */
export function rowAsColumns(s: LoadedSource, r: import('../sources/compile').SourceRow): Record<string, unknown> {
  const out: Record<string, unknown> = {
    source: s.name,
    device_id: r.deviceId,
    event_time: new Date(r.eventTime).toISOString(),
    time_origin: r.timeOrigin,
    record_key: r.recordKey,
  };
  s.measurements.forEach((m, i) => {
    const v = r.values[i] ?? null;
    out[m.name] =
      m.type === 'timestamptz' && typeof v === 'number'
        ? new Date(v).toISOString()
        : m.type === 'jsonb' && typeof v === 'string'
          ? JSON.parse(v)
          : v;
  });
  out.attributes = r.attributes === null ? null : JSON.parse(r.attributes);
  out.out_of_range = r.outOfRange;
  return out;
}

/** Adds the `sources` commands to `program`. */
export function registerSourceCommands(program: Command): void {
  const cmd = program.command('sources').description('Declared sources: sources/*.yaml (SOURCES_DIR), one stream of one device type each.');

  cmd
    .command('list')
    .description('List the declared sources: transport, table, measurements, file.')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) => {
      const all = [...load().values()];
      if (o.json) {
        console.log(
          JSON.stringify(
            all.map((s) => ({
              name: s.name,
              file: s.file,
              table: `ingest.${s.table}`,
              transport: transport(s),
              measurements: s.measurements.map((m) => ({ name: m.name, type: m.type, unit: m.declaration.unit ?? null })),
            })),
            null,
            2,
          ),
        );
        return;
      }
      if (!all.length) console.log(`No source files in ${sourcesDir()}.`);
      for (const s of all) {
        console.log(`${s.name}  (${s.file})`);
        console.log(`  ${transport(s)} → ingest.${s.table}`);
        console.log(
          `  measurements: ${s.measurements.map((m) => `${m.name} ${m.type}${m.declaration.unit ? ` [${m.declaration.unit}]` : ''}`).join(', ')}`,
        );
      }
    });

  cmd
    .command('validate')
    .description('Check every source file; print each problem as file:line:column: field: what to do. Exits 1 on a problem.')
    .action(() => {
      const all = load();
      console.log(
        `${all.size} source file${all.size === 1 ? '' : 's'} valid in ${sourcesDir()}: ${[...all.keys()].join(', ') || '(none)'}`,
      );
    });

  cmd
    .command('test')
    .description(
      "Print the row a payload would become in the source's table, or its dead-letter code and reason; writes nothing. Exits 1 when rejected.",
    )
    .argument('<source>', 'source name')
    .argument('<payload>', 'payload file, or - for standard input')
    .option('--topic <topic>', 'MQTT topic it arrived on (default: the template with each {segment} as its name)')
    .option('--key <key>', 'Kafka record key')
    .option('--lines', 'each line of the file is one message (JSON lines)')
    .action(async (name: string, file: string, o: { topic?: string; key?: string; lines?: boolean }) => {
      const s = load().get(name);
      if (!s) {
        console.error(`No source ${JSON.stringify(name)} in ${sourcesDir()}; run iot-pipelines sources list.`);
        process.exit(2);
      }
      const raw = await readPayload(file);
      const payloads = o.lines
        ? raw
            .toString('utf8')
            .split('\n')
            .filter((l) => l.trim())
            .map((l) => Buffer.from(l))
        : [raw];
      const topic =
        o.topic ??
        (s.declaration.mqtt
          ? s.declaration.mqtt.topic.replace(/\{([A-Za-z0-9_]+)(\.\.\.)?\}/g, '$1')
          : (s.declaration.kafka!.topics?.[0] ?? 'topic'));
      const now = Date.now();
      let rejectedCount = 0;
      for (const [i, payload] of payloads.entries()) {
        // One message at a time, so each row is printed under the message it came from.
        const mapped = await s.map(
          [{ payload, topic, key: o.key === undefined ? null : Buffer.from(o.key), arrivalTime: now, identity: `test/${i}` }],
          now,
        );
        const at = payloads.length > 1 ? `message ${i + 1}: ` : '';
        const r = mapped.rejected[0];
        if (r) {
          rejectedCount++;
          console.log(`${at}dead letter ${r.code}: ${r.reason}`);
        }
        for (const row of mapped.rows) {
          console.log(
            `${at}row of ingest.${s.table}: ${JSON.stringify(rowAsColumns(s, row), null, payloads.length > 1 || mapped.rows.length > 1 ? undefined : 2)}`,
          );
        }
      }
      if (rejectedCount) process.exitCode = 1;
    });

  cmd
    .command('apply')
    .description(
      "Create or evolve each source's table, then start its stream workflows or send them the new declaration (no worker restart).",
    )
    .option('--dry-run', 'print the plan (tables and streams) without changing anything')
    .option('--prune', 'stop running streams of declared sources whose file is gone')
    .option('--tables-only', 'only create and evolve tables')
    .action(async (o: { dryRun?: boolean; prune?: boolean; tablesOnly?: boolean }) => {
      const sources = load();
      const settings = loadSettings();
      const pool = createPool(databaseUrl(settings), 2);
      const { applySources } = await import('../sources/apply');
      try {
        const listKafkaTopics = async () => (await import('../ingest/kafka-client')).listTopics(kafkaBrokers(settings));
        const results = await withClient(settings, (client) =>
          applySources(sources, {
            client,
            pool,
            taskQueue: settings.taskQueue,
            dryRun: o.dryRun,
            prune: o.prune,
            tablesOnly: o.tablesOnly,
            listKafkaTopics,
          }),
        );
        let failed = 0;
        for (const r of results) {
          console.log(`${r.source} (${r.file})`);
          if (r.error) {
            failed++;
            console.log(`  refused, nothing changed:\n${r.error.replace(/^/gm, '    ')}`);
            continue;
          }
          if (r.table.table) {
            const t = r.table;
            console.log(`  table ingest.${t.table}: ${t.action}${t.added.length ? ` (new columns: ${t.added.join(', ')})` : ''}`);
            if (o.dryRun) for (const st of t.statements) console.log(`    ${st.split('\n').join('\n    ')};`);
          }
          for (const w of r.streams) {
            if (w.action === 'unreachable' || w.action === 'conflict') failed++;
            console.log(`  stream ${w.workflowId}: ${w.action}${w.reason ? `: ${w.reason}` : ''}${o.dryRun ? ' (dry run)' : ''}`);
          }
        }
        if (failed) process.exitCode = 1;
      } finally {
        await pool.end();
      }
    });
}
