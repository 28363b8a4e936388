/**
 * The shape of a batch as the batch writer takes it: one binary COPY payload per table
 * (`db/copy-binary.ts`), the per-device summaries for `ingest.device_status`, and the event-time range
 * for the lineage row. A source file's `encode` (`sources/encode.ts`) builds it; that is pure CPU work
 * with no I/O, so it can run on an encoder thread (`encoder-pool.ts`) while the consumer's own thread
 * fetches and writes.
 */
import type { DeviceActivity } from './device-activity';
import type { Rejected } from './payload';

/** Where rows are copied: a table, its columns in COPY order and its natural key (SQL text, quoted where needed). */
export interface TableTarget {
  /** Schema-qualified name. */
  table: string;
  columns: readonly string[];
  /** Columns of the unique key, for `ON CONFLICT`. */
  key: string;
  /** Name of the session-local staging table (an identifier). @default the table name with `.` → `_`, `_stage` appended */
  stage?: string;
}

/** A device summary with the kind of its newest record (which decides the shape of `latest`): the name of the source file that mapped it. */
export type DeviceSummary = DeviceActivity & { kind: string };

/** The rows of one record table in the binary COPY format. */
export interface EncodedTable {
  /** `source:<name>`: the source file the rows were mapped by. */
  kind: string;
  /** The source's table. */
  target: TableTarget;
  /** A whole `COPY … (FORMAT binary)` payload (header, rows, trailer) in `target`'s columns. */
  data: Uint8Array;
}

/** Valid records of a batch, encoded (`CompiledSource.encode`). */
export interface EncodedRecords {
  /** One entry per table with rows. */
  tables: EncodedTable[];
  /** Valid records over all tables. */
  valid: number;
  /** One summary per device, sorted by (source, device_id): the lock order of the status upsert. */
  devices: DeviceSummary[];
  /** Event-time range of the records, epoch ms; null when there are none. */
  firstEvent: number | null;
  lastEvent: number | null;
}

/** One batch of raw payloads mapped through a source file and encoded (`CompiledSource.map`, then `encode`). */
export interface EncodedPayloads {
  records: EncodedRecords;
  /** Messages to dead-letter, by index into the payloads. */
  rejected: Rejected[];
}
