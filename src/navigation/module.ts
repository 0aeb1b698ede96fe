// Live safe routes: WS /ws/navigation and the retained safesphere/routes/<zone>, both pushing
// the answers of the one routing function behind GET /api/routes (src/operations/) whenever
// the active-threat picture changes them. After operations (which routes) and mqtt (which
// carries the retained routes); stopped before both.
import type { Module, ModuleContext } from '../module.js';
import { NavigationHub } from './hub.js';
import { Navigator } from './navigator.js';
import { RetainedRoutes } from './retained.js';
import { navigationRoutes } from './routes.js';

declare module '../module.js' {
  interface Exports {
    navigation: { navigator: Navigator; hub: NavigationHub; retained: RetainedRoutes | null };
  }
}

export function create(ctx: ModuleContext): Module | null {
  const { config } = ctx;
  if (!config.navigation.enabled) return null;
  const log = ctx.logger('navigation');
  const broker = ctx.find('broker');
  const retainedOn = config.navigation.mqtt_retained && broker !== undefined;
  const navigator = new Navigator(ctx.use('operations'), ctx.bus, config, log, retainedOn);
  const hub = new NavigationHub(navigator, config.dashboard, log);
  const retained = retainedOn ? new RetainedRoutes(navigator, (packet) => broker.publish(packet), log) : null;
  ctx.provide('navigation', { navigator, hub, retained });
  return {
    name: 'navigation',
    async start() {
      hub.start();
      retained?.start();
      navigator.start(); // its first evaluation is the routes' initial state (retained: one per zone)
    },
    async stop() {
      navigator.stop();
      hub.stop();
      await retained?.stop();
    },
    health: () => ({
      navigation: {
        status: 'up',
        site_map: navigator.configured,
        ...hub.stats,
        evaluations: navigator.stats.evaluations,
        changes: navigator.stats.changes,
        next_expiry: navigator.stats.next_expiry,
        ...(retained ? { retained_published: retained.published, retained_failed: retained.failed } : {}),
      },
    }),
    routes: (app) => app.register(navigationRoutes(hub)),
    banner: (at) => [
      `Navigation      : WS ${at.http.replace(/^http/, 'ws')}/ws/navigation?from=<zone>   (signage or operator token)`,
      ...(retained ? ['  the current route from each zone retained on safesphere/routes/<zone>'] : []),
    ],
  };
}
