// Prometheus metrics on /metrics. Built before the pipeline, which it observes (IngestObserver)
// and whose scorer it times; its gauges read the broker, sync and the live feed when scraped.
import type { Module, ModuleContext } from '../module.js';
import { GatewayMetrics } from './metrics.js';

declare module '../module.js' {
  interface Exports {
    metrics: GatewayMetrics;
  }
}

export function create(ctx: ModuleContext): Module | null {
  if (!ctx.config.metrics.enabled) return null;
  const metrics = new GatewayMetrics({
    brokerClients: () => ctx.find('broker')?.connectedClients ?? 0,
    syncBacklog: () => {
      const sync = ctx.find('sync');
      if (!sync) return {};
      return Object.fromEntries(
        Object.entries(sync.status(1000).transports).map(([name, t]) => {
          const { total: _total, ...levels } = t!.backlog;
          return [name, { levels: levels as Record<string, number>, oldest_age_s: t!.oldest_undelivered_age_s }];
        }),
      );
    },
    evictions: () => ctx.find('sync')?.status(1000).retention.evictions ?? {},
    feedClients: () => ctx.find('operations')?.feed.stats.clients ?? 0,
  });
  ctx.provide('metrics', metrics);
  return {
    name: 'metrics',
    async start() {
      metrics.attach(ctx.bus);
      metrics.start();
    },
    async stop() {
      metrics.stop();
    },
    routes(app) {
      // The metrics token (src/security/access.ts) is valid on this route only.
      app.get('/metrics', { config: { role: 'operator' }, schema: { summary: 'Prometheus metrics (Bearer: the metrics token, or an operator token)' } }, async (_request, reply) => {
        const { contentType, body } = await metrics.scrape();
        return reply.type(contentType).send(body);
      });
    },
    banner: (at) => [`Metrics         : GET ${at.http}/metrics`],
  };
}
