// Storage integrity (migration 9): the sequence counters a high-water mark is compared with,
// raising them past a mark so no seq is ever given out twice, the missing-commit events an
// operator acknowledges, and /health's write probe.
//
// The counters: the highest incident seq, and the AUTOINCREMENT counters of the outbox (every
// incident commit writes an outbox entry in its own transaction, and the cloud's pull cursor is
// its seq) and of the live feed (the dashboard's resume cursor). A damaged WAL takes them back
// with the commits it loses; retention's deletes never do (sqlite_sequence keeps its value).
import type { IncidentRepository } from './incidents.js';
import { Repository, type Db } from './repository.js';

export interface SeqCounters {
  incident_seq: number;
  outbox_seq: number;
  feed_seq: number;
}

export interface IntegrityEvent {
  id: number;
  detected_at: string;
  missing_reports: number;
  missing_outbox: number;
  mark_incident_seq: number;
  found_incident_seq: number;
  mark_outbox_seq: number;
  found_outbox_seq: number;
  mark_feed_seq: number;
  found_feed_seq: number;
  acknowledged_at: string | null;
  acknowledged_by: string | null;
  note: string | null;
}

type NewEvent = Omit<IntegrityEvent, 'id' | 'acknowledged_at' | 'acknowledged_by' | 'note'>;

const EVENT_COLUMNS = `id, detected_at, missing_reports, missing_outbox, mark_incident_seq, found_incident_seq,
  mark_outbox_seq, found_outbox_seq, mark_feed_seq, found_feed_seq, acknowledged_at, acknowledged_by, note`;

function prepare(db: Db) {
  return {
    sequence: db.prepare<[string], { seq: number }>('SELECT seq FROM sqlite_sequence WHERE name = ?'),
    insertSequence: db.prepare<[string, number, string]>(
      'INSERT INTO sqlite_sequence (name, seq) SELECT ?, ? WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = ?)',
    ),
    raiseSequence: db.prepare<[number, string, number]>('UPDATE sqlite_sequence SET seq = ? WHERE name = ? AND seq < ?'),
    raiseFloor: db.prepare<[number]>(
      "INSERT INTO seq_floor (name, seq) VALUES ('incidents', ?) ON CONFLICT (name) DO UPDATE SET seq = max(seq, excluded.seq)",
    ),
    insertEvent: db.prepare<[NewEvent]>(`INSERT INTO integrity_events (detected_at, missing_reports, missing_outbox,
        mark_incident_seq, found_incident_seq, mark_outbox_seq, found_outbox_seq, mark_feed_seq, found_feed_seq)
      VALUES (@detected_at, @missing_reports, @missing_outbox, @mark_incident_seq, @found_incident_seq,
        @mark_outbox_seq, @found_outbox_seq, @mark_feed_seq, @found_feed_seq)`),
    open: db.prepare<[], IntegrityEvent>(`SELECT ${EVENT_COLUMNS} FROM integrity_events WHERE acknowledged_at IS NULL ORDER BY id`),
    recent: db.prepare<[number], IntegrityEvent>(`SELECT ${EVENT_COLUMNS} FROM integrity_events ORDER BY id DESC LIMIT ?`),
    acknowledge: db.prepare<[string, string, string | null]>(
      'UPDATE integrity_events SET acknowledged_at = ?, acknowledged_by = ?, note = ? WHERE acknowledged_at IS NULL',
    ),
    probe: db.prepare<[number]>(
      'INSERT INTO store_probe (id, at_ms, pad) VALUES (1, ?, zeroblob(4096)) ON CONFLICT (id) DO UPDATE SET at_ms = excluded.at_ms',
    ),
  };
}

export class HighWaterRepository extends Repository<ReturnType<typeof prepare>> {
  constructor(private readonly incidents: IncidentRepository) {
    super();
  }

  protected prepare(db: Db) {
    return prepare(db);
  }

  /** The committed counters (call between transactions: then they are durable). */
  counters(): SeqCounters {
    const s = this.st;
    return {
      incident_seq: this.incidents.highestSeq,
      outbox_seq: s.sequence.get('outbox')?.seq ?? 0,
      feed_seq: s.sequence.get('ops_feed')?.seq ?? 0,
    };
  }

  /** Raises every counter to at least `mark`, durably, so the next seqs are above it. */
  raise(mark: SeqCounters): void {
    const s = this.st;
    this.tx(() => {
      for (const [name, seq] of [
        ['outbox', mark.outbox_seq],
        ['ops_feed', mark.feed_seq],
      ] as const) {
        s.insertSequence.run(name, seq, name);
        s.raiseSequence.run(seq, name, seq);
      }
      s.raiseFloor.run(mark.incident_seq);
    });
    this.incidents.raiseSeq(mark.incident_seq);
  }

  record(event: NewEvent): void {
    this.st.insertEvent.run(event);
  }

  openEvents(): IntegrityEvent[] {
    return this.st.open.all();
  }

  recentEvents(limit = 50): IntegrityEvent[] {
    return this.st.recent.all(limit);
  }

  /** Acknowledges every open event; returns how many. */
  acknowledge(by: string, note: string | null, at = new Date().toISOString()): number {
    return this.st.acknowledge.run(at, by, note).changes;
  }

  /** One small write transaction (a page rewritten, fsynced like any commit). Throws when the store cannot commit. */
  probe(nowMs = Date.now()): void {
    this.st.probe.run(nowMs);
  }
}
