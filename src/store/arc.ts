// DC-09 sequence numbers (migration 12, src/arc/): one counter for every message the gateway
// sends to the monitoring station (notify_state 'arc_seq', 0001..9999, wrapping), and the number
// each station delivery was first sent with, so its retransmissions, also after a restart, keep it.
import { Repository, type Db } from './repository.js';

function prepare(db: Db) {
  return {
    counter: db.prepare<[], { value: number }>("SELECT value FROM notify_state WHERE key = 'arc_seq'"),
    setCounter: db.prepare<[number]>("INSERT INTO notify_state (key, value) VALUES ('arc_seq', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
    seqOf: db.prepare<[number], { seq: number }>('SELECT seq FROM arc_sequence WHERE delivery_id = ?'),
    seqInsert: db.prepare<[number, number, string]>('INSERT INTO arc_sequence (delivery_id, seq, created_at) VALUES (?, ?, ?)'),
    prune: db.prepare<[]>("DELETE FROM arc_sequence WHERE delivery_id NOT IN (SELECT id FROM deliveries WHERE state IN ('queued', 'sending'))"),
  };
}

export class ArcRepository extends Repository<ReturnType<typeof prepare>> {
  protected prepare(db: Db) {
    return prepare(db);
  }

  /** The next sequence number (written before it is used: a number is never sent twice for two messages). */
  nextSeq(): number {
    return this.tx(() => {
      const last = this.st.counter.get()?.value ?? 0;
      const next = last >= 9999 || last < 1 ? 1 : last + 1;
      this.st.setCounter.run(next);
      return next;
    });
  }

  /** The sequence number of a station delivery: the one its first attempt took. */
  seqFor(deliveryId: number): number {
    return this.tx(() => {
      const known = this.st.seqOf.get(deliveryId);
      if (known) return known.seq;
      const seq = this.nextSeq();
      this.st.seqInsert.run(deliveryId, seq, new Date().toISOString());
      return seq;
    });
  }

  /** Forgets the numbers of deliveries that are settled. */
  prune(): number {
    return this.st.prune.run().changes;
  }
}
