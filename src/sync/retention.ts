// Retention and buffer caps. In normal operation only delivered incidents go (every
// outbox entry of theirs taken by every consumer, or pulled and acknowledged): by age,
// then, over the database cap, oldest first. At the hard cap with undelivered data it
// evicts undelivered LOW, then MEDIUM, oldest first, each incident's snapshot files before
// its rows. HIGH and CRITICAL are never evicted undelivered, and ingest is never refused
// for lack of room here. Every eviction is counted (sync_state) and logged.
import { rmSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { ThreatLevel } from '../config/schema.js';
import { levelRank, rankLevel } from '../levels.js';
import type { Logger } from '../logger.js';
import type { RetentionRepository } from '../store/retention.js';
import type { Store } from '../store/store.js';

export interface RetentionOptions {
  maxAgeDays: number;
  maxDbMb: number;
  maxSnapshotMb: number;
  dataDir: string;
}

export interface RetentionReport {
  deleted_delivered: number;
  evicted_undelivered: Record<'LOW' | 'MEDIUM', number>;
  snapshots_evicted: number;
  db_bytes: number;
  snapshot_bytes: number;
  /** Still over a cap with only HIGH/CRITICAL (or nothing evictable) left. */
  over_cap: boolean;
}

const MB = 1024 * 1024;

export class Retention {
  private readonly rows: RetentionRepository;
  last: (RetentionReport & { at: string }) | null = null;

  constructor(
    private readonly store: Store,
    private readonly options: RetentionOptions,
    private readonly log: Logger,
  ) {
    this.rows = store.retention;
  }

  /** Bytes the database's live pages take (free pages are reused before the file grows). */
  dbBytes(): number {
    return this.rows.dbBytes();
  }

  private snapshotPath(payload: Record<string, unknown>): string | null {
    if (typeof payload.path !== 'string') return null;
    return isAbsolute(payload.path) ? payload.path : join(this.options.dataDir, payload.path);
  }

  private snapshotBytes(payload: Record<string, unknown>): number {
    if (typeof payload.bytes === 'number') return payload.bytes;
    const file = this.snapshotPath(payload);
    try {
      return file ? statSync(file).size : 0;
    } catch {
      return 0;
    }
  }

  /** The snapshot and its thumbnail (`thumb_path`, written by src/evidence/snapshots.ts). */
  private removeFile(payload: Record<string, unknown>): void {
    const file = this.snapshotPath(payload);
    if (file) rmSync(file, { force: true });
    if (typeof payload.thumb_path === 'string') {
      rmSync(isAbsolute(payload.thumb_path) ? payload.thumb_path : join(this.options.dataDir, payload.thumb_path), { force: true });
    }
  }

  /** Deletes incidents (their rows cascade: actions, alerts, outbox; counters via triggers), files first. */
  private deleteIncidents(ids: string[], reason: string, level?: ThreatLevel): void {
    if (ids.length === 0) return;
    const { snapshots: files, undelivered: perTransport } = this.rows.deleteIncidents(ids, level);
    // Snapshot files of the deleted incidents go with them ("snapshots before rows" for
    // the undelivered case is the snapshot pass below, which runs first).
    for (const f of files) if (f.evicted !== true) this.removeFile(f);
    const log = level ? this.log.warn.bind(this.log) : this.log.info.bind(this.log);
    log(
      { reason, count: ids.length, threat_level: level ?? 'delivered', first: ids[0], last: ids[ids.length - 1], undelivered_entries: perTransport },
      level ? 'evicted UNDELIVERED incidents to stay under the buffer cap' : 'deleted delivered incidents',
    );
  }

  /** One pass over every rule. Synchronous chunks (of at most 200 incidents, see src/store/retention.ts), yielding between them. */
  async runOnce(now = Date.now()): Promise<RetentionReport> {
    const report: RetentionReport = {
      deleted_delivered: 0,
      evicted_undelivered: { LOW: 0, MEDIUM: 0 },
      snapshots_evicted: 0,
      db_bytes: 0,
      snapshot_bytes: 0,
      over_cap: false,
    };
    const acked = () => this.store.syncState.get('pull.acked', 0);
    const yieldLoop = () => new Promise<void>((r) => setImmediate(r));

    // 1. Age: delivered incidents older than max_age_days.
    if (this.options.maxAgeDays > 0) {
      const cutoff = new Date(now - this.options.maxAgeDays * 86_400_000).toISOString();
      for (;;) {
        const ids = this.rows.deliveredOlderThan(cutoff, acked());
        if (ids.length === 0) break;
        this.deleteIncidents(ids, `older than ${this.options.maxAgeDays} days`);
        report.deleted_delivered += ids.length;
        await yieldLoop();
      }
    }

    // 2. The snapshot store: delivered first, then undelivered LOW, then MEDIUM; never HIGH/CRITICAL undelivered.
    if (this.options.maxSnapshotMb > 0) {
      const cap = this.options.maxSnapshotMb * MB;
      const live = this.rows.liveSnapshots(acked());
      let total = live.reduce((s, r) => s + this.snapshotBytes(r.payload), 0);
      const undelivered = (level: ThreatLevel) => live.filter((r) => !r.delivered && r.rank === levelRank(level)).sort((a, b) => a.seq - b.seq);
      const order = [...live.filter((r) => r.delivered).sort((a, b) => a.seq - b.seq), ...undelivered('LOW'), ...undelivered('MEDIUM')];
      for (const r of order) {
        if (total <= cap) break;
        const bytes = this.snapshotBytes(r.payload);
        this.removeFile(r.payload);
        this.rows.markSnapshotEvicted(r.seq);
        total -= bytes;
        report.snapshots_evicted++;
        this.log.warn(
          { incident_id: r.incident_id, seq: r.seq, bytes, delivered: r.delivered, threat_level: rankLevel(r.rank) },
          'evicted a snapshot file to stay under retention.max_snapshot_mb',
        );
      }
      report.snapshot_bytes = total;
      if (total > cap) report.over_cap = true;
    }

    // 3. The database: delivered oldest first, then undelivered LOW, then MEDIUM.
    if (this.options.maxDbMb > 0) {
      const cap = this.options.maxDbMb * MB;
      while (this.dbBytes() > cap) {
        const ids = this.rows.deliveredOldest(acked());
        if (ids.length === 0) break;
        this.deleteIncidents(ids, `database over ${this.options.maxDbMb} MB`);
        report.deleted_delivered += ids.length;
        await yieldLoop();
      }
      // Undelivered data goes in small steps, sized by what the previous step freed, so no
      // more is evicted than the cap needs.
      let bytesPerRow = 8192;
      for (const level of ['LOW', 'MEDIUM'] as const) {
        for (let size = this.dbBytes(); size > cap; ) {
          const ids = this.rows.oldestOfLevel(level);
          if (ids.length === 0) break;
          const step = ids.slice(0, Math.max(1, Math.min(ids.length, Math.floor((size - cap) / bytesPerRow))));
          this.deleteIncidents(step, `database over ${this.options.maxDbMb} MB with undelivered data`, level);
          report.evicted_undelivered[level] += step.length;
          const after = this.dbBytes();
          if (after < size) bytesPerRow = Math.max(512, (size - after) / step.length);
          size = after;
          await yieldLoop();
        }
      }
      report.db_bytes = this.dbBytes();
      if (report.db_bytes > cap) {
        report.over_cap = true;
        this.log.warn(
          { db_bytes: report.db_bytes, cap_bytes: cap },
          'database over retention.max_db_mb with only HIGH/CRITICAL (or nothing evictable) left; keeping them and accepting new reports',
        );
      }
    } else {
      report.db_bytes = this.dbBytes();
    }
    this.last = { ...report, at: new Date(now).toISOString() };
    return report;
  }
}
