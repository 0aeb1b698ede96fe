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
  const operations = new Operations(ctx.config, ctx.store, ctx.bus, ctx.health, ctx.logger('operations'), ctx.use('labels'));
  ctx.provide('operations', operations);
  // The dashboard's operator token (and /metrics' own token) are checked by the component that issued them.
  ctx.access.addVerifier('dashboard', (token, role, url) => {
    try {
      if (url === '/metrics' || url.startsWith('/metrics?')) operations.auth.checkMetrics(token);
      else operations.auth.check(token, role);
      return true;
    } catch {
      return false;
    }
  });
  return {
    name: 'operations',
    start: () => operations.start(),
    stop: () => operations.stop(),
    routes: (app) => app.register(operationsRoutes(operations)),
    banner: (at) =>
      ctx.config.dashboard.enabled
        ? [
            `Dashboard       : ${at.http}/   (operator token${operations.auth.generatedFile ? ` in ${operations.auth.generatedFile}` : ''})`,
            `  GET  ${at.http}/api/analysis  /api/timelapse  /api/routes?from=<zone>   WS /ws/incidents  /ws/timelapse`,
          ]
        : ['Dashboard       : off (dashboard.enabled: false)'],
  };
}
