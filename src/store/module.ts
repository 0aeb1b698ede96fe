// The commit stage's storage. The Store itself is in the module context (every feature reads
// and writes through its repositories); this module opens it first and closes it last.
import type { Module, ModuleContext } from '../module.js';

export function create(ctx: ModuleContext): Module {
  const { store } = ctx;
  return {
    name: 'store',
    start: () => store.start(),
    stop: () => store.stop(),
    health: () => ({ db: { status: store.isOpen && store.ping() ? 'up' : 'down' } }),
    banner: () => [`Threat database : ${store.file}`],
  };
}
