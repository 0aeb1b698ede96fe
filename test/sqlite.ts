// A second connection to a store's database file, for tests (and benches) that inspect or
// set up rows with SQL: the Store keeps its own handle private to src/store/. WAL lets this
// connection read what the store committed and write alongside it; triggers and foreign
// keys behave as on the store's own connection.
import Database from 'better-sqlite3';

const connections = new Map<string, Database.Database>();

export function sqlite(store: { file: string }): Database.Database {
  let db = connections.get(store.file);
  if (!db?.open) {
    db = new Database(store.file);
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    connections.set(store.file, db);
  }
  return db;
}
