// Retention and buffer caps. In normal operation only delivered incidents go (every
// outbox entry of theirs taken by every consumer, or pulled and acknowledged): by age,
// then, over the database cap, oldest first. At the hard cap with undelivered data it
// evicts undelivered LOW, then MEDIUM, oldest first, each incident's snapshot files before
// its rows. HIGH and CRITICAL are never evicted undelivered, and ingest is never refused
// for lack of room here. Every eviction is counted (sync_state) and logged.
import { rmSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type Database from 'better-sqlite3';
import type { ThreatLevel } from '../config/schema.js';
import type { Logger } from '../logger.js';
import type { Store } from '../store/store.js';
import { CONSUMER } from './outbox.js';
import type { OutboxQueue } from './queue.js';

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

const CHUNK = 200;
const MB = 1024 * 1024;

/** An incident is delivered when none of its entries waits for anyone. */
const UNDELIVERED_ENTRY = `EXISTS (SELECT 1 FROM outbox o WHERE o.incident_id = i.incident_id
  AND (o.pending_mask != 0 OR o.poison_mask != 0) AND o.seq > @acked)`;

export class Retention {
  private readonly db: Database.Database;
  private readonly stmts: Record<string, Database.Statement<unknown[], Record<string, unknown>>>;
  last: (RetentionReport & { at: string }) | null = null;

  constructor(
    store: Store,
    private readonly queue: OutboxQueue,
    private readonly options: RetentionOptions,
    private readonly log: Logger,
  ) {
    this.db = store.database;
    const p = (sql: string) => this.db.prepare<unknown[], Record<string, unknown>>(sql);
    this.stmts = {
      deliveredOlderThan: p(`SELECT i.incident_id FROM incidents i WHERE i.created_at < @cutoff AND NOT ${UNDELIVERED_ENTRY}
        ORDER BY i.created_at LIMIT ${CHUNK}`),
      deliveredOldest: p(`SELECT i.incident_id FROM incidents i WHERE NOT ${UNDELIVERED_ENTRY}
        ORDER BY i.created_at LIMIT ${CHUNK}`),
      oldestOfLevel: p(`SELECT i.incident_id FROM incidents i WHERE i.threat_level = @level
        ORDER BY i.created_at LIMIT ${CHUNK}`),
      snapshotFiles: p("SELECT seq, payload FROM outbox WHERE incident_id = ? AND kind = 'snapshot'"),
      liveSnapshots: p(`SELECT o.seq, o.incident_id, o.rank, o.payload,
          (o.pending_mask = 0 AND o.poison_mask = 0) OR o.seq <= @acked AS delivered
        FROM outbox o WHERE o.kind = 'snapshot' AND json_extract(o.payload, '$.evicted') IS NOT 1
        ORDER BY o.rank, o.seq`),
      markSnapshotEvicted: p("UPDATE outbox SET payload = json_set(coalesce(payload, '{}'), '$.evicted', json('true')) WHERE seq = ?"),
      pendingBits: p('SELECT pending_mask FROM outbox WHERE incident_id = ? AND pending_mask != 0'),
      deleteIncident: p('DELETE FROM incidents WHERE incident_id = ?'),
      pages: p('SELECT (SELECT page_count FROM pragma_page_count()) AS pages, (SELECT freelist_count FROM pragma_freelist_count()) AS free, (SELECT page_size FROM pragma_page_size()) AS size'),
    };
  }

  /** Bytes the database's live pages take (free pages are reused before the file grows). */
  dbBytes(): number {
    const r = this.stmts.pages!.get() as { pages: number; free: number; size: number };
    return (r.pages - r.free) * r.size;
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
    const perTransport = { http: 0, mqtt: 0, pull: 0 };
    const files: Record<string, unknown>[] = [];
    this.db.transaction(() => {
      for (const id of ids) {
        for (const r of this.stmts.snapshotFiles!.all(id) as { payload: string | null }[]) {
          if (r.payload) files.push(JSON.parse(r.payload) as Record<string, unknown>);
        }
        for (const r of this.stmts.pendingBits!.all(id) as { pending_mask: number }[]) {
          if (r.pending_mask & CONSUMER.http) perTransport.http++;
          if (r.pending_mask & CONSUMER.mqtt) perTransport.mqtt++;
          if (r.pending_mask & CONSUMER.pull) perTransport.pull++;
        }
        this.stmts.deleteIncident!.run(id);
      }
      if (level) this.queue.addState(`evicted.undelivered.${level}`, ids.length);
      else this.queue.addState('evicted.delivered', ids.length);
      this.queue.addState('evicted.entries.http', perTransport.http);
      this.queue.addState('evicted.entries.mqtt', perTransport.mqtt);
      this.queue.addState('evicted.entries.pull', perTransport.pull);
    })();
    // Snapshot files of the deleted incidents go with them ("snapshots before rows" for
    // the undelivered case is the snapshot pass below, which runs first).
    for (const f of files) if (f.evicted !== true) this.removeFile(f);
    const log = level ? this.log.warn.bind(this.log) : this.log.info.bind(this.log);
    log(
      { reason, count: ids.length, threat_level: level ?? 'delivered', first: ids[0], last: ids[ids.length - 1], undelivered_entries: perTransport },
      level ? 'evicted UNDELIVERED incidents to stay under the buffer cap' : 'deleted delivered incidents',
    );
  }

  /** One pass over every rule. Synchronous chunks of CHUNK incidents, yielding between them. */
  async runOnce(now = Date.now()): Promise<RetentionReport> {
    const report: RetentionReport = {
      deleted_delivered: 0,
      evicted_undelivered: { LOW: 0, MEDIUM: 0 },
      snapshots_evicted: 0,
      db_bytes: 0,
      snapshot_bytes: 0,
      over_cap: false,
    };
    const acked = () => this.queue.state('pull.acked', 0);
    const yieldLoop = () => new Promise<void>((r) => setImmediate(r));

    // 1. Age: delivered incidents older than max_age_days.
    if (this.options.maxAgeDays > 0) {
      const cutoff = new Date(now - this.options.maxAgeDays * 86_400_000).toISOString();
      for (;;) {
        const ids = (this.stmts.deliveredOlderThan!.all({ cutoff, acked: acked() }) as { incident_id: string }[]).map((r) => r.incident_id);
        if (ids.length === 0) break;
        this.deleteIncidents(ids, `older than ${this.options.maxAgeDays} days`);
        report.deleted_delivered += ids.length;
        await yieldLoop();
      }
    }

    // 2. The snapshot store: delivered first, then undelivered LOW, then MEDIUM; never HIGH/CRITICAL undelivered.
    if (this.options.maxSnapshotMb > 0) {
      const cap = this.options.maxSnapshotMb * MB;
      const live = (this.stmts.liveSnapshots!.all({ acked: acked() }) as {
        seq: number;
        incident_id: string;
        rank: number;
        payload: string | null;
        delivered: number;
      }[]).map((r) => ({ ...r, data: (r.payload ? JSON.parse(r.payload) : {}) as Record<string, unknown> }));
      let total = live.reduce((s, r) => s + this.snapshotBytes(r.data), 0);
      const order = [
        ...live.filter((r) => r.delivered).sort((a, b) => a.seq - b.seq),
        ...live.filter((r) => !r.delivered && r.rank === 3).sort((a, b) => a.seq - b.seq),
        ...live.filter((r) => !r.delivered && r.rank === 2).sort((a, b) => a.seq - b.seq),
      ];
      for (const r of order) {
        if (total <= cap) break;
        const bytes = this.snapshotBytes(r.data);
        this.removeFile(r.data);
        this.stmts.markSnapshotEvicted!.run(r.seq);
        this.queue.addState('evicted.snapshots', 1);
        total -= bytes;
        report.snapshots_evicted++;
        this.log.warn(
          { incident_id: r.incident_id, seq: r.seq, bytes, delivered: !!r.delivered, threat_level: ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW'][r.rank] },
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
        const ids = (this.stmts.deliveredOldest!.all({ acked: acked() }) as { incident_id: string }[]).map((r) => r.incident_id);
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
          const ids = (this.stmts.oldestOfLevel!.all({ level }) as { incident_id: string }[]).map((r) => r.incident_id);
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
