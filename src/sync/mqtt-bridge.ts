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
import { noDelay } from '../transport/nodelay.js';

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

/** <prefix>/sites/<site_id>: where the bridge's site-level topics live (status, heartbeat, events). */
export const siteBase = (prefix: string, siteId: string): string => `${prefix ? `${prefix.replace(/\/+$/, '')}/` : ''}sites/${siteId}`;

/** What other components may do on the bridge's one connection (Home Assistant discovery upstream). */
export interface UpstreamMqtt {
  readonly connected: boolean;
  /** <prefix>/sites/<site_id> */
  readonly siteBase: string;
  /** Retained online/offline: the session's last will. */
  readonly statusTopic: string;
  publish(topic: string, payload: string | Buffer, options: { qos: 0 | 1; retain: boolean }): Promise<void>;
  subscribe(filter: string, handler: (topic: string, payload: Buffer) => void): () => void;
  /** Called after every (re)connect, once `online` is published. */
  onConnect(listener: () => void): () => void;
}

export const bridgeTopic = (prefix: string, siteId: string, incidentId: string): string =>
  `${prefix ? `${prefix.replace(/\/+$/, '')}/` : ''}sites/${siteId}/incidents/${incidentId}`;

export class MqttBridgeTransport implements PushTransport, UpstreamMqtt {
  readonly name = 'mqtt' as const;
  readonly bit = CONSUMER.mqtt;
  private client: MqttClient | null = null;
  private readyWaiters = new Set<() => void>();
  private readonly connectListeners = new Set<() => void>();
  private readonly handlers = new Set<{ filter: string; handler: (topic: string, payload: Buffer) => void }>();
  lastError: string | null = null;

  get siteBase(): string {
    return siteBase(this.options.topicPrefix, this.options.siteId);
  }

  get statusTopic(): string {
    return `${this.siteBase}/status`;
  }

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
      // A dead gateway must not look like a quiet site: the broker says so for us.
      will: { topic: this.statusTopic, payload: Buffer.from('offline'), qos: 1, retain: true },
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
      noDelay(client.stream); // the batch's publishes go out as written, not held for the broker's delayed ACK
      this.log.info({ url: o.url, clientId: o.clientId, sessionPresent: ack.sessionPresent }, 'upstream MQTT bridge connected');
      for (const wake of this.readyWaiters) wake();
      this.readyWaiters.clear();
      client.publish(this.statusTopic, 'online', { qos: 1, retain: true }, (err) => {
        if (err) this.log.warn({ err: err.message }, 'publishing the upstream online status failed');
      });
      for (const l of this.connectListeners) {
        try {
          l();
        } catch (err) {
          this.log.error({ err }, 'upstream connect listener failed');
        }
      }
    });
    client.on('message', (topic, payload) => {
      for (const h of this.handlers) if (topicMatches(h.filter, topic)) h.handler(topic, payload);
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
    // A graceful stop says so itself (the broker drops the last will on a clean DISCONNECT).
    if (client.connected) {
      await Promise.race([
        new Promise<void>((resolve) => client.publish(this.statusTopic, 'offline', { qos: 1, retain: true }, () => resolve())),
        new Promise<void>((resolve) => setTimeout(resolve, Math.min(graceMs, 1000)).unref()),
      ]);
    }
    // A graceful end waits for in-flight publishes; after the grace, force it.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => client.end(true, {}, () => resolve()), graceMs);
      client.end(false, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  publish(topic: string, payload: string | Buffer, options: { qos: 0 | 1; retain: boolean }): Promise<void> {
    const client = this.client;
    if (!client || !client.connected) return Promise.reject(new Error(this.lastError ?? 'upstream MQTT bridge is not connected'));
    return new Promise((resolve, reject) => client.publish(topic, payload, options, (err) => (err ? reject(err) : resolve())));
  }

  subscribe(filter: string, handler: (topic: string, payload: Buffer) => void): () => void {
    const entry = { filter, handler };
    this.handlers.add(entry);
    this.client?.subscribe(filter, { qos: 1 }, (err) => {
      if (err) this.log.warn({ err: err.message, filter }, 'upstream subscribe failed');
    });
    return () => {
      this.handlers.delete(entry);
      if ([...this.handlers].every((h) => h.filter !== filter)) this.client?.unsubscribe(filter);
    };
  }

  onConnect(listener: () => void): () => void {
    this.connectListeners.add(listener);
    return () => this.connectListeners.delete(listener);
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

/** MQTT topic filter matching (+ one level, # the rest). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
