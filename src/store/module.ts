// The commit stage's storage. The Store itself is in the module context (every feature reads
// and writes through its repositories); this module opens it first and closes it last.
import type { Module, ModuleContext } from '../module.js';
import { LabelStore } from './labels.js';

declare module '../module.js' {
  interface Exports {
    /** Operator labels, each committed in its own transaction with its outbox entry. */
    labels: LabelStore;
  }
}

export function create(ctx: ModuleContext): Module {
  const { store } = ctx;
  const labels = new LabelStore(store);
  // A label reaches the upstream outbox in the label's own transaction.
  labels.inTransaction((_db, label) => {
    store.enqueueOutbox('label', label.incident_id, {
      payload: { label_id: label.id, label: label.label, by: label.by, note: label.note, created_at: label.created_at },
    });
  });
  ctx.provide('labels', labels);
  return {
    name: 'store',
    start: () => store.start(),
    stop: () => store.stop(),
    health: () => ({ db: { status: store.isOpen && store.ping() ? 'up' : 'down' } }),
    banner: () => [`Threat database : ${store.file}`],
  };
}
