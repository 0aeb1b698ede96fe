// What retention (src/sync/retention.ts) reads and deletes: delivered and undelivered
// incidents oldest first, live snapshot entries, and the deletes themselves (rows cascade:
// actions, alerts, outbox...; counters follow by trigger), each chunk in one transaction
// with its eviction counters.
import type { ThreatLevel } from '../config/schema.js';
import { CONSUMER } from './outbox.js';
import { Repository, type Db } from './repository.js';
import type { SyncStateRepository } from './sync-state.js';

/** Incidents per read (and so per delete transaction). */
const CHUNK = 200;

/** An incident is delivered when none of its entries waits for anyone. */
const UNDELIVERED_ENTRY = `EXISTS (SELECT 1 FROM outbox o WHERE o.incident_id = i.incident_id
  AND (o.pending_mask != 0 OR o.poison_mask != 0) AND o.seq > @acked)`;

export interface LiveSnapshot {
  seq: number;
  incident_id: string;
  rank: number;
  payload: Record<string, unknown>;
  delivered: boolean;
}

export interface DeletedIncidents {
  /** The snapshot entries' payloads of the deleted incidents (their files are the caller's to remove). */
  snapshots: Record<string, unknown>[];
  /** Undelivered outbox entries deleted, per consumer. */
  undelivered: { http: number; mqtt: number; pull: number };
}

type Id = { incident_id: string };

function prepare(db: Db) {
  return {
    deliveredOlderThan: db.prepare<{ cutoff: string; acked: number }, Id>(`SELECT i.incident_id FROM incidents i
      WHERE i.created_at < @cutoff AND NOT ${UNDELIVERED_ENTRY} ORDER BY i.created_at LIMIT ${CHUNK}`),
    deliveredOldest: db.prepare<{ acked: number }, Id>(`SELECT i.incident_id FROM incidents i WHERE NOT ${UNDELIVERED_ENTRY}
      ORDER BY i.created_at LIMIT ${CHUNK}`),
    oldestOfLevel: db.prepare<{ level: ThreatLevel }, Id>(`SELECT i.incident_id FROM incidents i WHERE i.threat_level = @level
      ORDER BY i.created_at LIMIT ${CHUNK}`),
    snapshotFiles: db.prepare<[string], { payload: string | null }>("SELECT seq, payload FROM outbox WHERE incident_id = ? AND kind = 'snapshot'"),
    liveSnapshots: db.prepare<{ acked: number }, { seq: number; incident_id: string; rank: number; payload: string | null; delivered: number }>(
      `SELECT o.seq, o.incident_id, o.rank, o.payload,
         (o.pending_mask = 0 AND o.poison_mask = 0) OR o.seq <= @acked AS delivered
       FROM outbox o WHERE o.kind = 'snapshot' AND json_extract(o.payload, '$.evicted') IS NOT 1
       ORDER BY o.rank, o.seq`,
    ),
    markSnapshotEvicted: db.prepare<[number]>(
      "UPDATE outbox SET payload = json_set(coalesce(payload, '{}'), '$.evicted', json('true')) WHERE seq = ?",
    ),
    pendingBits: db.prepare<[string], { pending_mask: number }>('SELECT pending_mask FROM outbox WHERE incident_id = ? AND pending_mask != 0'),
    deleteIncident: db.prepare<[string]>('DELETE FROM incidents WHERE incident_id = ?'),
    pages: db.prepare<[], { pages: number; free: number; size: number }>(
      'SELECT (SELECT page_count FROM pragma_page_count()) AS pages, (SELECT freelist_count FROM pragma_freelist_count()) AS free, (SELECT page_size FROM pragma_page_size()) AS size',
    ),
  };
}

const ids = (rows: Id[]) => rows.map((r) => r.incident_id);

export class RetentionRepository extends Repository<ReturnType<typeof prepare>> {
  constructor(private readonly state: SyncStateRepository) {
    super();
  }

  protected prepare(db: Db) {
    return prepare(db);
  }

  /** Bytes the database's live pages take (free pages are reused before the file grows). */
  dbBytes(): number {
    const r = this.st.pages.get()!;
    return (r.pages - r.free) * r.size;
  }

  /** Delivered incidents received before `cutoffIso`, oldest first; `acked` is the pull ack. */
  deliveredOlderThan(cutoffIso: string, acked: number): string[] {
    return ids(this.st.deliveredOlderThan.all({ cutoff: cutoffIso, acked }));
  }

  deliveredOldest(acked: number): string[] {
    return ids(this.st.deliveredOldest.all({ acked }));
  }

  /** Incidents of one level, delivered or not, oldest first. */
  oldestOfLevel(level: ThreatLevel): string[] {
    return ids(this.st.oldestOfLevel.all({ level }));
  }

  /** Snapshot entries whose file has not been evicted, most severe first. */
  liveSnapshots(acked: number): LiveSnapshot[] {
    return this.st.liveSnapshots.all({ acked }).map((r) => ({
      seq: r.seq,
      incident_id: r.incident_id,
      rank: r.rank,
      payload: (r.payload ? JSON.parse(r.payload) : {}) as Record<string, unknown>,
      delivered: r.delivered === 1,
    }));
  }

  /** Records that a snapshot entry's file is gone, and counts it. */
  markSnapshotEvicted(seq: number): void {
    this.tx(() => {
      this.st.markSnapshotEvicted.run(seq);
      this.state.add('evicted.snapshots', 1);
    });
  }

  /**
   * Deletes incidents in ONE transaction with the eviction counters: `level` set means they
   * were evicted undelivered (counted per level), otherwise they were delivered.
   */
  deleteIncidents(incidentIds: readonly string[], level?: ThreatLevel): DeletedIncidents {
    const out: DeletedIncidents = { snapshots: [], undelivered: { http: 0, mqtt: 0, pull: 0 } };
    this.tx(() => {
      for (const id of incidentIds) {
        for (const r of this.st.snapshotFiles.all(id)) {
          if (r.payload) out.snapshots.push(JSON.parse(r.payload) as Record<string, unknown>);
        }
        for (const r of this.st.pendingBits.all(id)) {
          if (r.pending_mask & CONSUMER.http) out.undelivered.http++;
          if (r.pending_mask & CONSUMER.mqtt) out.undelivered.mqtt++;
          if (r.pending_mask & CONSUMER.pull) out.undelivered.pull++;
        }
        this.st.deleteIncident.run(id);
      }
      if (level) this.state.add(`evicted.undelivered.${level}`, incidentIds.length);
      else this.state.add('evicted.delivered', incidentIds.length);
      this.state.add('evicted.entries.http', out.undelivered.http);
      this.state.add('evicted.entries.mqtt', out.undelivered.mqtt);
      this.state.add('evicted.entries.pull', out.undelivered.pull);
    });
    return out;
  }
}
