// The commit stage's storage. The Store itself is in the module context (every feature reads
// and writes through its repositories); this module opens it first and closes it last.
import type { Module, ModuleContext } from '../module.js';

export function create(ctx: ModuleContext): Module {
  const { store } = ctx;
  const probeMs = ctx.config.integrity.probe_interval_ms;
  // The truth under faults: the latest write decides (a failing commit makes db degraded at once,
  // the next one that succeeds makes it up), and with no write for a while a probe writes one.
  const dbHealth = () => {
    if (!store.isOpen || !store.ping()) return { status: 'down' as const };
    const w = store.writes;
    if (Date.now() - Math.max(w.okAt, w.failedAt) >= probeMs) store.probeWrite();
    if (w.failedAt > w.okAt) {
      return { status: 'degraded' as const, error: `commits are failing (${w.error}); reports are refused until one succeeds`, last_failure_at: new Date(w.failedAt).toISOString() };
    }
    return { status: 'up' as const, last_write_at: w.okAt ? new Date(w.okAt).toISOString() : null };
  };
  return {
    name: 'store',
    start: () => store.start(),
    stop: () => store.stop(),
    health: () => ({ db: dbHealth() }),
    banner: () => [`Threat database : ${store.file}`],
  };
}
