// The gateway's own MQTT session on the embedded broker. It keeps the retained
// safesphere/gateway/status topic: `online` while the gateway runs, `offline` on a
// graceful stop, and `offline` through its last will if the session ever drops.
import { Duplex } from 'node:stream';
import type { Aedes } from 'aedes';
import { MqttClient } from 'mqtt';
import type { Logger } from '../../logger.js';
import { TOPICS } from './topics.js';

/** Two in-memory streams wired back to back: what one writes, the other reads. */
export function duplexPair(): [Duplex, Duplex] {
  const make = (peer: () => Duplex) =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        peer().push(chunk);
        cb();
      },
      final(cb) {
        peer().push(null);
        cb();
      },
      destroy(err, cb) {
        const other = peer();
        if (!other.destroyed) other.destroy();
        cb(err);
      },
    });
  const a: Duplex = make(() => b);
  const b: Duplex = make(() => a);
  return [a, b];
}

export class GatewayStatusSession {
  private client: MqttClient | null = null;

  constructor(
    private readonly aedes: Aedes,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const [brokerSide, clientSide] = duplexPair();
    this.aedes.handle(brokerSide);
    const client = new MqttClient(() => clientSide, {
      clientId: `safesphere-gateway-${process.pid}`,
      protocolVersion: 4,
      reconnectPeriod: 0,
      keepalive: 60,
      will: { topic: TOPICS.status, payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    client.on('error', (err) => this.log.warn({ err: err.message }, 'gateway status session error'));
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    this.client = client;
    await client.publishAsync(TOPICS.status, 'online', { qos: 1, retain: true });
  }

  async stop(): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.client = null;
    try {
      await client.publishAsync(TOPICS.status, 'offline', { qos: 1, retain: true });
    } finally {
      await client.endAsync();
    }
  }
}
