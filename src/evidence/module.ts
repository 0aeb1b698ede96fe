// Evidence: snapshots over HTTP and MQTT (sharp), and the optional image model. All of it runs
// after the ack, never on the report's path. Started before the transports that feed it: its
// incident.stored listener attaches snapshots that arrived before their report.
import type { Module, ModuleContext } from '../module.js';
import { SnapshotDetector } from './detector.js';
import { evidenceRoutes } from './routes.js';
import { SnapshotService } from './snapshots.js';

declare module '../module.js' {
  interface Exports {
    snapshots: SnapshotService;
  }
}

export function create(ctx: ModuleContext): Module | null {
  const { config } = ctx;
  if (!config.snapshots.enabled) return null;
  const detector = config.models.snapshot.path ? new SnapshotDetector(config.models.snapshot, ctx.logger('detector')) : null;
  const snapshots = new SnapshotService(config.snapshots, config.data_dir, ctx.store, ctx.bus, detector, ctx.logger('evidence'));
  ctx.provide('snapshots', snapshots);
  return {
    name: 'evidence',
    async start() {
      await detector?.start();
      try {
        await snapshots.start();
      } catch (err) {
        await detector?.stop();
        throw err;
      }
    },
    async stop() {
      await snapshots.stop();
      await detector?.stop();
    },
    health: () => ({ evidence: snapshots.health(), ...(detector ? { snapshot_model: detector.health() } : {}) }),
    routes: (app) => app.register(evidenceRoutes(snapshots, config.snapshots.max_bytes)),
    banner: (at) => [`Evidence        : POST ${at.http}/upload/screenshot   GET /incidents/{id}/snapshot  /thumbnail`],
  };
}
