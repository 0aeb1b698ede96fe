// Operator labels on incidents ("confirmed" / "false_alarm"), in the `labels` table
// (migration 2). Every label is written in ONE transaction; components that must record
// something atomically with it (the upstream sync outbox) register an `inTransaction`
// hook, and components that only need to know (the re-scorer's false-alarm rates)
// register an `afterCommit` listener.
import type Database from 'better-sqlite3';
import type { Store } from './store.js';

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

/** Runs inside the label's transaction, with the row as written; throwing rolls it back. */
export type LabelTransactionHook = (db: Database.Database, label: LabelRow) => void;
export type LabelListener = (label: LabelRow) => void;

export class LabelStore {
  private readonly hooks: LabelTransactionHook[] = [];
  private readonly listeners: LabelListener[] = [];
  private stmts: {
    incident: Database.Statement;
    insert: Database.Statement;
    forIncident: Database.Statement;
  } | null = null;
  private preparedFor: Database.Database | null = null;

  constructor(private readonly store: Store) {}

  inTransaction(hook: LabelTransactionHook): void {
    this.hooks.push(hook);
  }

  afterCommit(listener: LabelListener): void {
    this.listeners.push(listener);
  }

  private statements() {
    const db = this.store.database;
    if (!this.stmts || this.preparedFor !== db) {
      this.stmts = {
        incident: db.prepare('SELECT incident_id, camera_id FROM incidents WHERE incident_id = ?'),
        insert: db.prepare(`INSERT INTO labels (incident_id, camera_id, label, by, note, created_at)
          VALUES (?, ?, ?, ?, ?, ?)`),
        forIncident: db.prepare(`SELECT id, incident_id, camera_id, label, by, note, created_at
          FROM labels WHERE incident_id = ? ORDER BY id`),
      };
      this.preparedFor = db;
    }
    return this.stmts;
  }

  /** Writes a label. Returns null when the incident does not exist (nothing written). */
  add(input: NewLabel): LabelRow | null {
    const db = this.store.database;
    const s = this.statements();
    const write = db.transaction((): LabelRow | null => {
      const incident = s.incident.get(input.incidentId) as { incident_id: string; camera_id: string | null } | undefined;
      if (!incident) return null;
      const createdAt = (input.at ?? new Date()).toISOString();
      const info = s.insert.run(input.incidentId, incident.camera_id, input.label, input.by, input.note ?? null, createdAt);
      const row: LabelRow = {
        id: Number(info.lastInsertRowid),
        incident_id: input.incidentId,
        camera_id: incident.camera_id,
        label: input.label,
        by: input.by,
        note: input.note ?? null,
        created_at: createdAt,
      };
      for (const hook of this.hooks) hook(db, row);
      return row;
    });
    const row = write();
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
    return this.statements().forIncident.all(incidentId) as LabelRow[];
  }
}
