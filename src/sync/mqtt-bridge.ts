// MQTT bridge to an existing broker (Mosquitto, EMQX, HiveMQ, AWS IoT Core): each outbox
// entry is published QoS 1 to <prefix>/sites/<site_id>/incidents/<incident_id> over a
// persistent session (clean=false, fixed client id), and counts as delivered when its
// PUBACK arrives. Publishes still unacknowledged when the connection drops stay in
// mqtt.js's outgoing store and are resent, in order, on reconnect; we never publish a
// second copy of an entry while the first is outstanding.
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from '../logger.js';
import { CONSUMER } from '../store/outbox.js';
import type { ByteBucket } from './timing.js';
import type { PreparedEntry, PushTransport, SendOutcome } from './transport.js';

export interface MqttBridgeOptions {
  url: string;
  clientId: string;
  username: string;
  /** Resolved at start (config password, or the password file). */
  password: () => string;
  caFile: string;
  certFile: string;
  keyFile: string;
  rejectUnauthorized: boolean;
  keepaliveS: number;
  topicPrefix: string;
  siteId: string;
  reconnectMs: number;
}

export const bridgeTopic = (prefix: string, siteId: string, incidentId: string): string =>
  `${prefix ? `${prefix.replace(/\/+$/, '')}/` : ''}sites/${siteId}/incidents/${incidentId}`;

export class MqttBridgeTransport implements PushTransport {
  readonly name = 'mqtt' as const;
  readonly bit = CONSUMER.mqtt;
  private client: MqttClient | null = null;
  private readyWaiters = new Set<() => void>();
  lastError: string | null = null;

  constructor(
    private readonly options: MqttBridgeOptions,
    private readonly bucket: ByteBucket,
    private readonly log: Logger,
  ) {}

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  async start(): Promise<void> {
    const o = this.options;
    const opts: IClientOptions = {
      clientId: o.clientId,
      clean: false,
      protocolVersion: 4,
      keepalive: o.keepaliveS,
      reconnectPeriod: o.reconnectMs,
      connectTimeout: 10_000,
      rejectUnauthorized: o.rejectUnauthorized,
      // The broker may be away at start: never fail the gateway's start for it.
      manualConnect: false,
    };
    if (o.username) opts.username = o.username;
    const password = o.password();
    if (password) opts.password = password;
    if (o.caFile) opts.ca = readFileSync(o.caFile);
    if (o.certFile) opts.cert = readFileSync(o.certFile);
    if (o.keyFile) opts.key = readFileSync(o.keyFile);
    const client = mqtt.connect(o.url, opts);
    client.on('connect', (ack) => {
      this.lastError = null;
      this.log.info({ url: o.url, clientId: o.clientId, sessionPresent: ack.sessionPresent }, 'upstream MQTT bridge connected');
      for (const wake of this.readyWaiters) wake();
      this.readyWaiters.clear();
    });
    client.on('error', (err) => {
      this.lastError = err.message;
      this.log.warn({ err: err.message, url: o.url }, 'upstream MQTT bridge error');
    });
    client.on('offline', () => this.log.warn({ url: o.url }, 'upstream MQTT bridge offline; reconnecting'));
    this.client = client;
  }

  async stop(graceMs: number): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.client = null;
    for (const wake of this.readyWaiters) wake();
    this.readyWaiters.clear();
    // A graceful end waits for in-flight publishes; after the grace, force it.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => client.end(true, {}, () => resolve()), graceMs);
      client.end(false, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  ready(signal: AbortSignal): Promise<void> {
    if (this.connected || signal.aborted || !this.client) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', done);
        this.readyWaiters.delete(done);
        resolve();
      };
      this.readyWaiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * Publishes the whole batch in order on the one connection: the broker sees each lane's
   * entries in order, and PUBACKs come back as they are taken. Resolves when every publish
   * has its PUBACK or has failed (the client ended).
   */
  async sendBatch(batch: PreparedEntry[], signal: AbortSignal): Promise<SendOutcome[]> {
    const client = this.client;
    if (!client || !client.connected) return batch.map(() => ({ kind: 'retry', error: this.lastError ?? 'not connected' }));
    const o = this.options;
    const outcomes: Promise<SendOutcome>[] = [];
    for (const p of batch) {
      if (signal.aborted) {
        outcomes.push(Promise.resolve({ kind: 'skipped' }));
        continue;
      }
      if (!p.doc) {
        outcomes.push(Promise.resolve({ kind: 'delivered' }));
        continue;
      }
      const payload = Buffer.from(JSON.stringify(p.doc));
      await this.bucket.take(payload.length, signal);
      outcomes.push(
        new Promise<SendOutcome>((resolve) => {
          client.publish(bridgeTopic(o.topicPrefix, o.siteId, p.entry.incident_id), payload, { qos: 1 }, (err) =>
            resolve(err ? { kind: 'retry', error: err.message } : { kind: 'delivered' }),
          );
        }),
      );
    }
    return Promise.all(outcomes);
  }
}
