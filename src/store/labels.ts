// Operator labels on incidents ("confirmed" / "false_alarm"), in the `labels` table
// (migration 2). Every label is written in ONE transaction with its outbox entry (and, by
// trigger, its ops-feed row); components that only need to know (the re-scorer's
// false-alarm rates, the live feed) register an `afterCommit` listener.
import type { OutboxRepository } from './outbox.js';
import { Repository, type Db } from './repository.js';

export const LABELS = ['confirmed', 'false_alarm'] as const;
export type LabelValue = (typeof LABELS)[number];

export interface LabelRow {
  id: number;
  incident_id: string;
  camera_id: string | null;
  label: LabelValue;
  by: string;
  note: string | null;
  created_at: string;
}

export interface NewLabel {
  incidentId: string;
  label: LabelValue;
  by: string;
  note?: string | null | undefined;
  /** Defaults to now. */
  at?: Date;
}

export type LabelListener = (label: LabelRow) => void;

/** The re-scorer's priming query: a range scan of labels_created (test/scoring-gateway.test.ts checks the plan). */
export const PRIME_LABELS_SQL = 'SELECT incident_id, camera_id, label, created_at FROM labels WHERE created_at >= ? ORDER BY created_at, id';

function prepare(db: Db) {
  return {
    incident: db.prepare<[string], { incident_id: string; camera_id: string | null }>(
      'SELECT incident_id, camera_id FROM incidents WHERE incident_id = ?',
    ),
    insert: db.prepare<[string, string | null, LabelValue, string, string | null, string]>(
      `INSERT INTO labels (incident_id, camera_id, label, by, note, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
    ),
    forIncident: db.prepare<[string], LabelRow>(
      `SELECT id, incident_id, camera_id, label, by, note, created_at FROM labels WHERE incident_id = ? ORDER BY id`,
    ),
    since: db.prepare<[string], Pick<LabelRow, 'incident_id' | 'camera_id' | 'label' | 'created_at'>>(PRIME_LABELS_SQL),
  };
}

export class LabelRepository extends Repository<ReturnType<typeof prepare>> {
  private readonly listeners: LabelListener[] = [];

  constructor(private readonly outbox: OutboxRepository) {
    super();
  }

  protected prepare(db: Db) {
    return prepare(db);
  }

  afterCommit(listener: LabelListener): void {
    this.listeners.push(listener);
  }

  /** Writes a label and its outbox entry. Returns null when the incident does not exist (nothing written). */
  add(input: NewLabel): LabelRow | null {
    const s = this.st;
    const row = this.tx((): LabelRow | null => {
      const incident = s.incident.get(input.incidentId);
      if (!incident) return null;
      const createdAt = (input.at ?? new Date()).toISOString();
      const info = s.insert.run(input.incidentId, incident.camera_id, input.label, input.by, input.note ?? null, createdAt);
      const label: LabelRow = {
        id: Number(info.lastInsertRowid),
        incident_id: input.incidentId,
        camera_id: incident.camera_id,
        label: input.label,
        by: input.by,
        note: input.note ?? null,
        created_at: createdAt,
      };
      this.outbox.enqueue('label', label.incident_id, {
        payload: { label_id: label.id, label: label.label, by: label.by, note: label.note, created_at: label.created_at },
      });
      return label;
    });
    if (row) {
      for (const listener of this.listeners) {
        try {
          listener(row);
        } catch {
          // The label is committed; a listener's failure must not turn that into an error.
        }
      }
    }
    return row;
  }

  forIncident(incidentId: string): LabelRow[] {
    return this.st.forIncident.all(incidentId);
  }

  /** Labels given since `sinceIso`, oldest first (index labels_created). */
  since(sinceIso: string): Pick<LabelRow, 'incident_id' | 'camera_id' | 'label' | 'created_at'>[] {
    return this.st.since.all(sinceIso);
  }
}
