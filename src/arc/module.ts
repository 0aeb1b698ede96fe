// The alarm receiving centre (ARC): SIA DC-09 over IP to a primary and a backup receiver,
// encrypted, supervised. Incidents reach it through notify's durable queue (the `arc` channel,
// registered with notify, carries arc.action_types); supervision and test reports run here.
// Before notify, which registers its channel; off when arc.primary.host is empty.
import { ConfigError } from '../config/load.js';
import { arcKeyProblem } from '../config/arc.js';
import { Counter, Histogram } from 'prom-client';
import type { Module, ModuleContext } from '../module.js';
import { readSecret } from '../security/secrets.js';
import { ArcChannel } from './channel.js';
import { keyBytes } from './crypto.js';
import { arcRoutes } from './routes.js';
import { ArcService } from './service.js';
import { ArcTransmitter } from './transmitter.js';

declare module '../module.js' {
  interface Exports {
    arc: { channel: ArcChannel; service: ArcService };
  }
}

export function create(ctx: ModuleContext): Module | null {
  const { config } = ctx;
  const arc = config.arc;
  if (!arc.primary.host) return null;
  const log = ctx.logger('arc');
  const registry = ctx.find('metrics')?.registry;
  const exchanges = registry
    ? new Counter({ name: 'safesphere_arc_exchanges_total', help: 'DC-09 exchanges with the monitoring station by path, message kind (event, supervision, test) and outcome (ack, nak, duh, error).', labelNames: ['path', 'kind', 'outcome'], registers: [registry] })
    : null;
  const rtt = registry
    ? new Histogram({ name: 'safesphere_arc_exchange_seconds', help: 'DC-09 message to the receiver\'s answer, by path.', labelNames: ['path'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] })
    : null;
  let key: Buffer | null = null;
  // Built at start, once the key is read; the channel and service reach it through this holder.
  const transmitter = new ArcTransmitter({
    config: arc,
    get key() {
      return key;
    },
    log,
    seq: { next: () => ctx.store.arc.nextSeq() },
    observe: (e) => {
      exchanges?.inc({ path: e.path, kind: e.kind, outcome: e.outcome });
      if (e.outcome !== 'error') rtt?.observe({ path: e.path }, e.ms / 1000);
    },
  });
  const channel = new ArcChannel(config, transmitter, (id) => ctx.store.arc.seqFor(id));
  const service = new ArcService(config, transmitter, () => ctx.store.arc.nextSeq());
  ctx.provide('arc', { channel, service });
  return {
    name: 'arc',
    async start() {
      // The key through the secret readers, checked like an inline key (exit 78 naming the key).
      const secret = readSecret(arc.key, arc.key_file, 'arc.key_file');
      if (secret) {
        const problem = arcKeyProblem(secret, arc.key_format);
        if (problem) throw new ConfigError([`${arc.key ? 'arc.key' : 'arc.key_file'}: the key ${problem}`]);
        key = keyBytes(secret, arc.key_format);
      }
      const pruned = ctx.store.arc.prune();
      if (pruned) log.debug({ pruned }, 'sequence numbers of settled station deliveries forgotten');
      transmitter.start();
    },
    async stop() {
      transmitter.stop();
    },
    health: () => ({ arc: transmitter.health() }),
    routes: (app) => app.register(arcRoutes(service)),
    banner: () => [
      `Monitoring stn  : ${arc.format}${key ? ' encrypted' : ' UNENCRYPTED'} over ${arc.transport} to ${arc.primary.host}:${arc.primary.port}${arc.backup.host ? `, backup ${arc.backup.host}:${arc.backup.port}` : ' (no backup path)'}; account ${arc.account}; carries ${arc.action_types.join(', ')}`,
    ],
  };
}
