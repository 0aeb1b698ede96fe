// The gateway's own MQTT session on the embedded broker. It keeps the retained
// safesphere/gateway/status topic: `online` while the gateway runs, `offline` on a
// graceful stop, and `offline` through its last will if the session ever drops; it then
// reconnects and re-asserts `online`, with a warning in the log and in /health (broker).
import { randomBytes } from 'node:crypto';
import { Duplex } from 'node:stream';
import type { Aedes } from 'aedes';
import { MqttClient } from 'mqtt';
import type { Logger } from '../../logger.js';
import { GATEWAY_CLIENT_PREFIX } from '../../security/mqtt.js';
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

export interface StatusSessionHealth {
  connected: boolean;
  client_id_prefix: string;
  drops: number;
  last_drop_at: string | null;
}

/** How long a stop waits for the retained `offline` to be taken before it closes anyway. */
const OFFLINE_PUBLISH_MS = 1000;

export class GatewayStatusSession {
  private client: MqttClient | null = null;
  private stopping = false;
  private connected = false;
  private drops = 0;
  private lastDropAt: string | null = null;
  /** Random per start: nobody can guess it from the pid (and external clients may not use the prefix at all). */
  readonly clientId = `${GATEWAY_CLIENT_PREFIX}${randomBytes(12).toString('hex')}`;

  constructor(
    private readonly aedes: Aedes,
    private readonly log: Logger,
    private readonly reconnectMs = 1000,
  ) {}

  async start(): Promise<void> {
    // Each (re)connect is a new in-memory stream pair handed to aedes.
    const streamBuilder = () => {
      const [brokerSide, clientSide] = duplexPair();
      this.aedes.handle(brokerSide);
      return clientSide;
    };
    const client = new MqttClient(streamBuilder, {
      clientId: this.clientId,
      protocolVersion: 4,
      reconnectPeriod: this.reconnectMs,
      keepalive: 60,
      will: { topic: TOPICS.status, payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    client.on('error', (err) => this.log.warn({ err: err.message }, 'gateway status session error'));
    client.on('close', () => {
      const was = this.connected;
      this.connected = false;
      if (this.stopping || !was) return;
      this.drops++;
      this.lastDropAt = new Date().toISOString();
      this.log.warn(
        { client_id: this.clientId, drops: this.drops },
        'the gateway\'s own MQTT session was closed (its will set safesphere/gateway/status to offline); reconnecting',
      );
    });
    client.on('connect', () => {
      this.connected = true;
      if (this.drops === 0) return; // the first connect publishes below, awaited by start()
      // Re-assert online over the will's offline.
      client.publish(TOPICS.status, 'online', { qos: 1, retain: true }, (err) => {
        if (err) this.log.warn({ err: err.message }, 'could not re-assert gateway status online');
        else this.log.warn({ client_id: this.clientId, drops: this.drops }, 'gateway MQTT session reconnected; status re-asserted online');
      });
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    this.client = client;
    await client.publishAsync(TOPICS.status, 'online', { qos: 1, retain: true });
  }

  health(): StatusSessionHealth {
    return { connected: this.connected, client_id_prefix: GATEWAY_CLIENT_PREFIX, drops: this.drops, last_drop_at: this.lastDropAt };
  }

  async stop(): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.stopping = true;
    this.client = null;
    client.options.reconnectPeriod = 0;
    try {
      if (client.connected) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          client.publishAsync(TOPICS.status, 'offline', { qos: 1, retain: true }),
          new Promise((resolve) => (timer = setTimeout(resolve, OFFLINE_PUBLISH_MS))),
        ]).finally(() => clearTimeout(timer));
      }
    } finally {
      // Never wait on a session that is gone: a stop must not hang on it.
      await new Promise<void>((resolve) => client.end(!client.connected, {}, () => resolve()));
    }
  }
}
