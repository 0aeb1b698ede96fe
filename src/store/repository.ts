// The shape every repository shares. A repository exists from the Store's construction
// (components register listeners and settings before the database opens) and prepares its
// statements once, when the store opens: `prepare` returns a typed object literal, so a
// misspelt statement name does not compile.
import type Database from 'better-sqlite3';

export type Db = Database.Database;

export abstract class Repository<S> {
  private statements: S | null = null;
  private handle: Db | null = null;

  protected abstract prepare(db: Db): S;

  /** Called by Store.start, after the migrations. */
  connect(db: Db): void {
    this.handle = db;
    this.statements = this.prepare(db);
  }

  /** Called by Store.stop, before the connection closes. */
  disconnect(): void {
    this.statements = null;
    this.handle = null;
  }

  protected get st(): S {
    if (!this.statements) throw new Error('store is not started');
    return this.statements;
  }

  protected get db(): Db {
    if (!this.handle) throw new Error('store is not started');
    return this.handle;
  }

  /** Runs `fn` in a transaction (a savepoint when the caller already is in one). */
  protected tx<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }
}
