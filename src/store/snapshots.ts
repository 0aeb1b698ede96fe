// Evidence rows (migration 5): one snapshot per incident, snapshots held until their report
// arrives, and the image model's detections. A snapshot and a detection each reach the
// outbox in their own row's transaction.
import type { OutboxRepository } from './outbox.js';
import { Repository, type Db } from './repository.js';

/** A stored image's format (the evidence module sniffs it). */
export type ImageFormat = 'jpeg' | 'png' | 'webp';

/** One image-model detection, as stored. */
export interface Detection {
  label: string;
  confidence: number;
  /** x1, y1, x2, y2 in the stored snapshot's pixels. */
  box: [number, number, number, number];
}

/** The `snapshots` row. Paths are relative to data_dir when the snapshot dir is inside it. */
export interface SnapshotRecord {
  incident_id: string;
  sha256: string;
  original_format: ImageFormat;
  original_bytes: number;
  width: number;
  height: number;
  file: string;
  thumb_file: string;
  stored_bytes: number;
  jpeg_sha256: string;
  camera_id: string | null;
  source: 'mqtt' | 'http';
  received_at: string;
  attached_at: string;
}

export interface DetectionRecord {
  model: string;
  person_conf: number;
  weapon_conf: number;
  boxes: Detection[];
  inference_ms: number;
  created_at: string;
}

type HeldRow = { incident_id: string; meta: string };
const held = (r: HeldRow) => ({ incidentId: r.incident_id, record: JSON.parse(r.meta) as SnapshotRecord });

function prepare(db: Db) {
  return {
    get: db.prepare<[string], SnapshotRecord>('SELECT * FROM snapshots WHERE incident_id = ?'),
    insert: db.prepare<SnapshotRecord>(`INSERT INTO snapshots (incident_id, sha256, original_format, original_bytes, width, height, file,
        thumb_file, stored_bytes, jpeg_sha256, camera_id, source, received_at, attached_at)
      VALUES (@incident_id, @sha256, @original_format, @original_bytes, @width, @height, @file, @thumb_file,
        @stored_bytes, @jpeg_sha256, @camera_id, @source, @received_at, @attached_at)`),
    heldGet: db.prepare<[string], { meta: string }>('SELECT meta FROM snapshots_held WHERE incident_id = ?'),
    heldInsert: db.prepare<[string, string, number, number]>(
      'INSERT INTO snapshots_held (incident_id, meta, stored_bytes, received_ms) VALUES (?, ?, ?, ?)',
    ),
    heldDelete: db.prepare<[string]>('DELETE FROM snapshots_held WHERE incident_id = ?'),
    heldAll: db.prepare<[], { incident_id: string; received_ms: number }>('SELECT incident_id, received_ms FROM snapshots_held ORDER BY received_ms'),
    heldOldest: db.prepare<[], HeldRow>('SELECT incident_id, meta FROM snapshots_held ORDER BY received_ms LIMIT 1'),
    heldTotals: db.prepare<[], { n: number; bytes: number }>('SELECT count(*) AS n, coalesce(sum(stored_bytes), 0) AS bytes FROM snapshots_held'),
    heldExpired: db.prepare<[number], HeldRow>('SELECT incident_id, meta FROM snapshots_held WHERE received_ms <= ? ORDER BY received_ms'),
    detectionGet: db.prepare<[string], Omit<DetectionRecord, 'boxes'> & { boxes: string }>(
      'SELECT model, person_conf, weapon_conf, boxes, inference_ms, created_at FROM detections WHERE incident_id = ?',
    ),
    detectionInsert: db.prepare<[string, string, number, number, string, number, string]>(
      `INSERT OR REPLACE INTO detections (incident_id, model, person_conf, weapon_conf, boxes, inference_ms, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
  };
}

export class SnapshotRepository extends Repository<ReturnType<typeof prepare>> {
  constructor(private readonly outbox: OutboxRepository) {
    super();
  }

  protected prepare(db: Db) {
    return prepare(db);
  }

  get(incidentId: string): SnapshotRecord | null {
    return this.st.get.get(incidentId) ?? null;
  }

  /** The snapshots row (taking it out of the hold, if it was held) and its outbox entry, in ONE transaction. */
  attach(record: SnapshotRecord, outboxPayload: Record<string, unknown>, fromHold: boolean): void {
    this.tx(() => {
      this.st.insert.run(record);
      if (fromHold) this.st.heldDelete.run(record.incident_id);
      this.outbox.enqueue('snapshot', record.incident_id, { payload: outboxPayload });
    });
  }

  // --- held snapshots ------------------------------------------------------------------

  held(incidentId: string): SnapshotRecord | null {
    const h = this.st.heldGet.get(incidentId);
    return h ? (JSON.parse(h.meta) as SnapshotRecord) : null;
  }

  hold(record: SnapshotRecord, receivedMs: number): void {
    this.st.heldInsert.run(record.incident_id, JSON.stringify(record), record.stored_bytes, receivedMs);
  }

  unhold(incidentId: string): void {
    this.st.heldDelete.run(incidentId);
  }

  heldIds(): string[] {
    return this.st.heldAll.all().map((r) => r.incident_id);
  }

  /** Receipt time of the oldest held snapshot, or null. */
  oldestHeldMs(): number | null {
    return this.st.heldAll.get()?.received_ms ?? null;
  }

  oldestHeld(): { incidentId: string; record: SnapshotRecord } | null {
    const r = this.st.heldOldest.get();
    return r ? held(r) : null;
  }

  heldTotals(): { n: number; bytes: number } {
    return this.st.heldTotals.get()!;
  }

  /** Held snapshots received at or before `cutoffMs`, oldest first. */
  heldReceivedBy(cutoffMs: number): { incidentId: string; record: SnapshotRecord }[] {
    return this.st.heldExpired.all(cutoffMs).map(held);
  }

  // --- detections ------------------------------------------------------------------------

  detection(incidentId: string): DetectionRecord | null {
    const row = this.st.detectionGet.get(incidentId);
    return row ? { ...row, boxes: JSON.parse(row.boxes) as Detection[] } : null;
  }

  /** The detections row and its outbox 'annotation' entry, in ONE transaction. */
  storeDetection(incidentId: string, d: Omit<DetectionRecord, 'created_at'>, createdAt: string, outboxPayload: Record<string, unknown>): void {
    this.tx(() => {
      this.st.detectionInsert.run(incidentId, d.model, d.person_conf, d.weapon_conf, JSON.stringify(d.boxes), d.inference_ms, createdAt);
      this.outbox.enqueue('annotation', incidentId, { payload: outboxPayload });
    });
  }
}
