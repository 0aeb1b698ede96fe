// Arming modes and schedules, the MQTT command topic, Home Assistant discovery. After the
// broker (its command topic and in-process session) and operations (the acknowledge button,
// the live feed); it hands its mode to the pipeline's policy when it is built, before any
// report can be planned, and loads the stored mode on the first report or at its start.
import type { Module, ModuleContext } from '../module.js';
import { ArmingMqtt } from './mqtt.js';
import { armingRoutes } from './routes.js';
import { ArmingService } from './service.js';

declare module '../module.js' {
  interface Exports {
    arming: ArmingService;
  }
}

export function create(ctx: ModuleContext): Module {
  const { config } = ctx;
  const arming = new ArmingService(config.arming, ctx.store, ctx.logger('arming'));
  ctx.use('policy').useModes(arming);
  ctx.provide('arming', arming);
  const operations = ctx.find('operations');
  const sync = ctx.find('sync');
  const mqtt = new ArmingMqtt({
    config,
    version: ctx.version,
    arming,
    broker: ctx.use('broker'),
    store: ctx.store,
    bus: ctx.bus,
    upstream: () => sync?.upstreamMqtt() ?? null,
    acknowledge: operations
      ? (id, by, note) => {
          operations.queries.acknowledge(id, by, note);
          operations.feed.wake();
        }
      : null,
    log: ctx.logger('homeassistant'),
  });
  // Every change is a feed row (written with the audit row): tell the feed to look.
  const offFeed = operations ? arming.onChange(() => operations.feed.wake()) : () => {};
  return {
    name: 'arming',
    async start() {
      await arming.start();
      await mqtt.start();
    },
    async stop() {
      offFeed();
      await mqtt.stop();
      await arming.stop();
    },
    health: () => ({ arming: arming.health(), ...(config.homeassistant.enabled ? { homeassistant: { status: 'up', ...mqtt.stats } } : {}) }),
    routes: (app) => app.register(armingRoutes(arming, ctx.store)),
    banner: (at) => [
      `Arming          : ${arming.mode}${arming.schedule.enabled ? ` (schedule, ${config.arming.schedule.time_zone})` : ''}   GET/PUT ${at.http}/arming   MQTT safesphere/gateway/arming/set`,
      ...(config.homeassistant.enabled
        ? [`Home Assistant  : discovery on ${config.homeassistant.discovery_prefix}/#${config.homeassistant.upstream ? ' (embedded and upstream brokers)' : ''}`]
        : []),
    ],
  };
}
