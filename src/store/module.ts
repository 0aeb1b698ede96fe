// The commit stage's storage. The Store itself is in the module context (every feature reads
// and writes through its repositories); this module opens it first and closes it last.
import type { Module, ModuleContext } from '../module.js';

export function create(ctx: ModuleContext): Module {
  const { store } = ctx;
  const probeMs = ctx.config.integrity.probe_interval_ms;
  // The truth under faults: a failed commit makes db degraded at once and only a commit that
  // succeeds clears it; with no write for probe_interval_ms, a probe writes one page (so an
  // idle gateway whose disk went bad is not shown up).
  const dbHealth = () => {
    if (!store.isOpen || !store.ping()) return { status: 'down' as const };
    const w = store.writes;
    if (Date.now() - Math.max(w.okAt, w.failedAt, w.probeOkAt, w.probeFailedAt) >= probeMs) store.probeWrite();
    if (w.failedAt > w.okAt) {
      return {
        status: 'degraded' as const,
        error: `commits are failing (${w.error}); reports are refused until one succeeds`,
        last_failure_at: new Date(w.failedAt).toISOString(),
      };
    }
    if (w.probeFailedAt > Math.max(w.probeOkAt, w.okAt)) {
      return { status: 'degraded' as const, error: `the write probe failed (${w.error}); commits would fail`, last_failure_at: new Date(w.probeFailedAt).toISOString() };
    }
    return { status: 'up' as const, last_commit_at: w.okAt ? new Date(w.okAt).toISOString() : null };
  };

  return {
    name: 'store',
    start: () => store.start(),
    stop: () => store.stop(),
    health: () => ({ db: dbHealth() }),
    banner: () => [`Threat database : ${store.file}`],
  };
}
