// Persistent counters and positions of the sync side (table sync_state, migration 3): the
// consumers mask the outbox triggers read, the pull ack, eviction counters.
import { Repository, type Db } from './repository.js';

function prepare(db: Db) {
  return {
    get: db.prepare<[string], { value: number }>('SELECT value FROM sync_state WHERE key = ?'),
    set: db.prepare<[string, number]>(
      'INSERT INTO sync_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    ),
    add: db.prepare<[string, number]>(
      'INSERT INTO sync_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = value + excluded.value',
    ),
    all: db.prepare<[], { key: string; value: number }>('SELECT key, value FROM sync_state'),
  };
}

export class SyncStateRepository extends Repository<ReturnType<typeof prepare>> {
  protected prepare(db: Db) {
    return prepare(db);
  }

  get(key: string, fallback: number): number {
    return this.st.get.get(key)?.value ?? fallback;
  }

  set(key: string, value: number): void {
    this.st.set.run(key, value);
  }

  add(key: string, delta: number): void {
    if (delta !== 0) this.st.add.run(key, delta);
  }

  all(): Record<string, number> {
    return Object.fromEntries(this.st.all.all().map((r) => [r.key, r.value]));
  }
}
