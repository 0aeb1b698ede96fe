// The act stage: Node-RED flows, which installers edit, carry out the planned actions. After
// the broker (its flows connect to it); it listens on the bus from construction, so no action
// planned while Node-RED boots is missed.
import { createServer as createHttpsServer } from 'node:https';
import type { Module, ModuleContext } from '../module.js';
import { Automation } from './automation.js';

declare module '../module.js' {
  interface Exports {
    automation: Automation;
  }
}

export function create(ctx: ModuleContext): Module {
  const { config } = ctx;
  if (!config.nodered.enabled) {
    // Off: actions are planned and stored, and nothing carries them out. Say so at start.
    return { name: 'automation', start: async () => {}, stop: async () => {}, banner: () => ['Node-RED editor : off (nodered.enabled: false); actions stay pending'] };
  }
  const broker = ctx.use('broker');
  const tls = ctx.use('tls');
  const operations = ctx.find('operations');
  const arming = ctx.find('arming');
  // Contacts and escalation (src/notify/) carry the notification action types they own.
  const notify = ctx.find('notify');
  // The monitoring station (src/arc/): the `safesphere arc` node sends through it.
  const station = ctx.find('arc');
  const automation = new Automation(
    config,
    config.zones,
    ctx.store,
    ctx.use('policy'),
    ctx.bus,
    {
      host: config.mqtt.host,
      port: () => broker.port,
      publish: (topic, payload, options) => broker.publish({ topic, payload, ...options }),
      observe: (listener) => broker.observe(listener),
    },
    ctx.logger('automation'),
    {
      // A CRITICAL safe_route action carries the safe route out of the incident's zone.
      ...(operations ? { routeProvider: (zones: readonly string[]) => operations.routeForZones(zones) } : {}),
      // The safesphere arming node sets and follows the arming mode.
      ...(arming
        ? {
            arming: {
              mode: () => arming.mode,
              set: async (mode: unknown, by: string) => {
                const change = await arming.set(mode, { by, via: 'node-red' });
                return { changed: change !== null, mode: arming.mode, change: change as Record<string, unknown> | null };
              },
              onChange: (listener: (change: Record<string, unknown>) => void) => arming.onChange((c) => listener({ ...c })),
            },
          }
        : {}),
      ...(notify ? { ownedElsewhere: (type: string) => notify.owns(type), notify: (request) => notify.fromFlow(request) } : {}),
      ...(station ? { arc: { send: async (event: Record<string, unknown>) => ({ ...(await station.service.sendFlowEvent(event)) }), describe: () => station.service.describe() } } : {}),
      // The editor over HTTPS, reloaded with the other TLS listeners.
      ...(config.tls.nodered
        ? {
            editorTls: { credentials: () => tls.credentials(), register: (name, target) => tls.register(name, target) },
            editorServer: (app, which) => {
              const server = createHttpsServer({ ...tls.credentials(), headersTimeout: config.limits.http_headers_timeout_ms }, app);
              tls.register(which === 'host' ? 'nodered' : 'nodered-lan', server);
              return server;
            },
          }
        : {}),
    },
  );
  ctx.provide('automation', automation);
  return {
    name: 'automation',
    start: () => automation.start(),
    stop: () => automation.stop(),
    health: () => ({ automation: automation.health() }),
    banner: (at) => [
      `Node-RED editor : http://${at.host(config.nodered.host)}:${automation.nodeRed.port}/   ` +
        `(login in ${automation.nodeRed.paths.passwordFile} unless nodered.admin_users is set)`,
      ...(config.nodered.lan_host ? [`                  also http://${config.nodered.lan_host}:${automation.nodeRed.lanPort}/ (nodered.lan_host)`] : []),
    ],
  };
}
