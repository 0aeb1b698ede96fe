// Upstream sync: the outbox drainers (HTTP push, MQTT bridge), the pull API and retention.
// Started after the store (it needs the outbox) and before the pipeline accepts reports.
import type { Module, ModuleContext } from '../module.js';
import { syncRoutes } from './routes.js';
import { SyncService } from './service.js';

declare module '../module.js' {
  interface Exports {
    sync: SyncService;
  }
}

export function create(ctx: ModuleContext): Module {
  // The pull API is on while a token has the sync role (src/security/access.ts owns them all).
  const sync = new SyncService(ctx.config, ctx.store, ctx.logger('sync'), ctx.access, { health: ctx.health, version: ctx.version });
  ctx.provide('sync', sync);
  let off: (() => void) | null = null;
  return {
    name: 'sync',
    async start() {
      await sync.start();
      // Action outcomes and alerts reach the outbox through triggers (migration 3): wake the drainers.
      off = ctx.bus.on('action.updated', () => sync.wake());
    },
    async stop() {
      off?.();
      off = null;
      await sync.stop();
    },
    health: () => ({ sync: sync.health() }),
    routes: (app) => app.register(syncRoutes(sync)),
    banner: (at) => [`Upstream sync   : GET ${at.http}/sync/incidents  /sync/status  POST /sync/ack`],
  };
}
