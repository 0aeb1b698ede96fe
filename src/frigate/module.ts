// Frigate as a report source: reviews (and optionally tracked-object events) from Frigate's
// MQTT broker, through the same validator and pipeline as threat_cv reports (validate →
// re-score → one durable commit → PUBACK). Off unless frigate.enabled.
import type { Module, ModuleContext } from '../module.js';
import { readSecret } from '../security/secrets.js';
import { FrigateSource } from './source.js';

declare module '../module.js' {
  interface Exports {
    frigate: FrigateSource;
  }
}

export function create(ctx: ModuleContext): Module | null {
  const { config } = ctx;
  const c = config.frigate;
  if (!c.enabled) return null;
  const source = new FrigateSource({
    config: c,
    siteId: config.site_id,
    maxText: config.report.max_string_length,
    // Read at start: a file or systemd credential, never at build time.
    password: () => readSecret(c.password, c.password_file, 'frigate.password_file'),
    validator: ctx.use('validator'),
    pipeline: ctx.use('pipeline'),
    incidents: ctx.store.incidents,
    bus: ctx.bus,
    log: ctx.logger('frigate'),
  });
  ctx.provide('frigate', source);
  return {
    name: 'frigate',
    start: async () => source.start(),
    stop: () => source.stop(),
    health: () => ({ frigate: source.health() }),
    banner: () => [`Frigate         : ${c.url}  ${c.topic_prefix}/reviews${c.events ? `, ${c.topic_prefix}/events` : ''} (QoS 1, persistent session)`],
  };
}
