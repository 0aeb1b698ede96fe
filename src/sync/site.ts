// Site-level sync, next to each push transport's incident drainer: the heartbeat (a health
// summary every heartbeat_s, so the cloud can tell "no incidents" from "no gateway") and the
// site events (the arming audit log, src/store/arming.ts), sent in order and marked delivered
// per transport only once the upstream took them.
//   MQTT: heartbeat retained QoS 0 on <prefix>/sites/<site_id>/heartbeat while connected (a stale
//         one is never replayed after a reconnect); events QoS 1 on <prefix>/sites/<site_id>/events/<kind>,
//         delivered on PUBACK. The status topic (last will) is the bridge's own (mqtt-bridge.ts).
//   HTTP: POST <url>/sites/<site_id>/heartbeat and POST <url>/sites/<site_id>/events, one event per
//         request with an Idempotency-Key; 2xx/409 delivered, 5xx/408/429/network retried at the next round.
import type { Logger } from '../logger.js';
import type { SiteEvent } from '../store/arming.js';
import type { Store } from '../store/store.js';
import type { HttpPushTransport } from './http-push.js';
import type { MqttBridgeTransport } from './mqtt-bridge.js';
import type { SendOutcome } from './transport.js';

export type Heartbeat = Record<string, unknown> & { site_id: string; status: 'online'; at: string };

export interface SiteSender {
  readonly name: 'http' | 'mqtt';
  readonly bit: number;
  readonly connected: boolean;
  sendHeartbeat(body: Heartbeat, signal: AbortSignal): Promise<SendOutcome>;
  sendEvent(event: SiteEvent, signal: AbortSignal): Promise<SendOutcome>;
}

export const siteEventKey = (siteId: string, seq: number): string => `${siteId}:site-event:${seq}`;

const eventDoc = (siteId: string, e: SiteEvent) => ({ site_id: siteId, seq: e.seq, kind: e.kind, at: e.at, data: e.data, idempotency_key: siteEventKey(siteId, e.seq) });

export function mqttSiteSender(t: MqttBridgeTransport, siteId: string): SiteSender {
  return {
    name: 'mqtt',
    bit: t.bit,
    get connected() {
      return t.connected;
    },
    sendHeartbeat: (body) =>
      t.publish(`${t.siteBase}/heartbeat`, JSON.stringify(body), { qos: 0, retain: true }).then(
        (): SendOutcome => ({ kind: 'delivered' }),
        (err: Error): SendOutcome => ({ kind: 'retry', error: err.message }),
      ),
    sendEvent: (e) =>
      t.publish(`${t.siteBase}/events/${e.kind}`, JSON.stringify(eventDoc(siteId, e)), { qos: 1, retain: false }).then(
        (): SendOutcome => ({ kind: 'delivered' }),
        (err: Error): SendOutcome => ({ kind: 'retry', error: err.message }),
      ),
  };
}

export function httpSiteSender(t: HttpPushTransport, siteId: string): SiteSender {
  const base = `sites/${encodeURIComponent(siteId)}`;
  return {
    name: 'http',
    bit: t.bit,
    connected: true,
    sendHeartbeat: (body, signal) => t.postJson(`${base}/heartbeat`, body, {}, signal),
    sendEvent: (e, signal) => t.postJson(`${base}/events`, eventDoc(siteId, e), { 'idempotency-key': siteEventKey(siteId, e.seq) }, signal),
  };
}

export interface SiteSyncStats {
  heartbeats: number;
  heartbeat_failures: number;
  last_heartbeat_at: string | null;
  events_delivered: number;
  events_refused: number;
  last_error: string | null;
}

export class SiteSync {
  readonly stats: SiteSyncStats = { heartbeats: 0, heartbeat_failures: 0, last_heartbeat_at: null, events_delivered: 0, events_refused: 0, last_error: null };
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private readonly abort = new AbortController();

  constructor(
    private readonly sender: SiteSender,
    private readonly store: Store,
    private readonly heartbeatMs: number,
    private readonly summary: (sender: SiteSender) => Heartbeat,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.round(true), this.heartbeatMs);
    this.timer.unref();
    void this.round(true);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.abort.abort();
    await this.running;
  }

  /** A new site event, or the transport just connected: send now (the heartbeat too when `heartbeat`). */
  wake(heartbeat = false): void {
    void this.round(heartbeat);
  }

  /** One round: the heartbeat (when due), then pending events in order until one fails. Rounds never overlap. */
  round(heartbeat: boolean): Promise<void> {
    if (this.running) {
      this.again ||= true;
      return this.running;
    }
    const run = async () => {
      const signal = this.abort.signal;
      if (heartbeat && this.sender.connected && !signal.aborted) {
        const o = await this.sender.sendHeartbeat(this.summary(this.sender), signal);
        if (o.kind === 'delivered') {
          this.stats.heartbeats++;
          this.stats.last_heartbeat_at = new Date().toISOString();
        } else {
          this.stats.heartbeat_failures++;
          this.stats.last_error = 'error' in o ? o.error : o.kind;
        }
      }
      while (!signal.aborted && this.sender.connected) {
        const events = this.store.arming.pendingFor(this.sender.bit, 50);
        if (events.length === 0) break;
        const done: number[] = [];
        let stop = false;
        for (const e of events) {
          const o = await this.sender.sendEvent(e, signal);
          if (o.kind === 'delivered') done.push(e.seq);
          else if (o.kind === 'poisoned') {
            // Refused for good: it stays in /arming/changes and /sync/site-events; this transport stops trying.
            done.push(e.seq);
            this.stats.events_refused++;
            this.log.error({ transport: this.sender.name, seq: e.seq, status: o.status, error: o.error }, 'upstream refused a site event; not retried');
          } else {
            this.stats.last_error = o.kind === 'retry' ? o.error : o.kind;
            stop = true;
            break;
          }
        }
        this.store.arming.markDelivered(this.sender.bit, done);
        this.stats.events_delivered += done.length;
        if (stop) break;
      }
    };
    this.running = run()
      .catch((err: unknown) => {
        this.stats.last_error = (err as Error).message;
        this.log.warn({ err, transport: this.sender.name }, 'site sync round failed');
      })
      .finally(() => {
        this.running = null;
        if (this.again && !this.abort.signal.aborted) {
          this.again = false;
          void this.round(false);
        }
      });
    return this.running;
  }
}
