// Site operations: the guard's dashboard, the analysis and timelapse APIs, safe routes, the live
// feeds and incident acknowledge/resolve. Before automation, which asks it for safe routes.
import type { Module, ModuleContext } from '../module.js';
import { operationsRoutes } from './routes.js';
import { Operations } from './service.js';

declare module '../module.js' {
  interface Exports {
    operations: Operations;
  }
}

export function create(ctx: ModuleContext): Module {
  const operations = new Operations(ctx.config, ctx.store, ctx.bus, ctx.health, ctx.logger('operations'), ctx.store.labels);
  ctx.provide('operations', operations);
  return {
    name: 'operations',
    start: () => operations.start(),
    stop: () => operations.stop(),
    routes: (app) => app.register(operationsRoutes(operations)),
    banner: (at) =>
      ctx.config.dashboard.enabled
        ? [
            `Dashboard       : ${at.http}/   (operator token${ctx.access.operatorTokenFile ? ` in ${ctx.access.operatorTokenFile}` : ''})`,
            `  GET  ${at.http}/api/analysis  /api/timelapse  /api/routes?from=<zone>   WS /ws/incidents  /ws/timelapse`,
          ]
        : ['Dashboard       : off (dashboard.enabled: false)'],
  };
}
