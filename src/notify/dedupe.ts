/**
 * De-duplication of notifications per alert: a {@link DedupingNotifier} delivers each `dedupeKey` at most
 * once (after a successful delivery the key is recorded; a failed delivery releases it so a retry sends
 * again). Keys are claimed atomically, so concurrent activity attempts cannot both send.
 */
import type { Pool } from '../db/pool';
import type { Notification, Notifier } from './types';

/** Where delivered keys are remembered. */
export interface DedupeStore {
  /** Claims `key`. @returns false when it was already claimed (delivered or being delivered). */
  claim(key: string): Promise<boolean>;
  /** Releases a claim after a failed delivery. */
  release(key: string): Promise<void>;
}

/** In-memory store (one process; tests). */
export class MemoryDedupeStore implements DedupeStore {
  private readonly keys = new Set<string>();
  claim(key: string): Promise<boolean> {
    if (this.keys.has(key)) return Promise.resolve(false);
    this.keys.add(key);
    return Promise.resolve(true);
  }
  release(key: string): Promise<void> {
    this.keys.delete(key);
    return Promise.resolve();
  }
}

/** Store in PostgreSQL table `ops.notifications_sent` (migration 040): survives restarts, shared by workers. */
export class PgDedupeStore implements DedupeStore {
  constructor(
    private readonly pool: Pool,
    private readonly table = 'ops.notifications_sent',
  ) {}
  async claim(key: string): Promise<boolean> {
    const r = await this.pool.query(`INSERT INTO ${this.table} (dedupe_key) VALUES ($1) ON CONFLICT DO NOTHING`, [key]);
    return (r.rowCount ?? 0) === 1;
  }
  async release(key: string): Promise<void> {
    await this.pool.query(`DELETE FROM ${this.table} WHERE dedupe_key = $1`, [key]);
  }
}

/** Result of {@link DedupingNotifier.send}. */
export type DedupeOutcome = 'sent' | 'duplicate';

/** Wraps a notifier so that each `dedupeKey` is delivered once. */
export class DedupingNotifier implements Notifier {
  constructor(
    private readonly inner: Notifier,
    private readonly store: DedupeStore,
  ) {}

  /** Like {@link notify} but says whether it sent. @throws what the inner notifier throws (the claim is released). */
  async send(n: Notification): Promise<DedupeOutcome> {
    if (!(await this.store.claim(n.dedupeKey))) return 'duplicate';
    try {
      await this.inner.notify(n);
    } catch (e) {
      await this.store.release(n.dedupeKey).catch(() => undefined);
      throw e;
    }
    return 'sent';
  }

  async notify(n: Notification): Promise<void> {
    await this.send(n);
  }
}
