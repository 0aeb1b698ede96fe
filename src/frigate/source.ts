// The Frigate report source: a QoS 1 subscriber with a persistent session (clean=false, fixed
// client id) on Frigate's broker. Each message is handled in mqtt.js's `handleMessage`, whose
// callback sends the PUBACK: it is called only once the report is committed (or found to be
// stored already, or refused for good), so a message the broker delivered is acknowledged
// only when it is durable, and one in flight at a crash is delivered again after the restart.
//
// One review is one incident (`frigate:<review id>`). Its updates never create another, except
// an update that raises the level (severity, person, weapon) or adds a weapon: that is one
// follow-up incident per escalation step (`frigate:<review id>:<LEVEL>[:weapon]`), linked by
// source_key (the review id) and source_ref.follows. Ids are deterministic and the highest step
// stored is read back from the store after a restart, so redelivery never duplicates.
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { GatewayConfig } from '../config/schema.js';
import { ERRORS, GatewayError } from '../errors.js';
import type { EventBus } from '../events/bus.js';
import type { ComponentHealth } from '../health.js';
import type { Logger } from '../logger.js';
import type { IngestPipeline } from '../pipeline/ingest.js';
import type { IncidentRepository } from '../store/incidents.js';
import type { ReportValidator } from '../validate/report.js';
import {
  assessEvent,
  assessReview,
  escalationKey,
  eventReport,
  incidentIds,
  keysAbove,
  parseEventMessage,
  parseReviewMessage,
  reviewReport,
  type Assessment,
  type MappedReport,
} from './mapping.js';

type FrigateConfig = GatewayConfig['frigate'];

/** Errors a resend can fix: the message is kept (no PUBACK) and tried again. */
const RETRYABLE = new Set([ERRORS.OVERLOADED.code, ERRORS.SHUTTING_DOWN.code, ERRORS.STORAGE_FULL.code, ERRORS.STORAGE_FAILED.code]);

export type Availability = 'online' | 'offline' | 'stopped' | 'unknown';

export interface FrigateCounters {
  received: number;
  stored: number;
  follow_ups: number;
  /** Updates that changed nothing the incident shows (no escalation). */
  absorbed: number;
  /** Messages whose incident was already stored (a redelivery). */
  duplicates: number;
  /** Tracked objects Frigate marked false_positive. */
  ignored: number;
  /** Refusals by error code (malformed JSON, unknown severity, too large, invalid shape). */
  refused: Record<string, number>;
}

interface Tracked {
  key: number;
  level: Assessment['level'];
  weapon: boolean;
}

export interface FrigateSourceDeps {
  config: FrigateConfig;
  siteId: string;
  maxText: number;
  password: () => string;
  validator: ReportValidator;
  pipeline: IngestPipeline;
  incidents: IncidentRepository;
  bus: EventBus;
  log: Logger;
}

export class FrigateSource {
  private client: MqttClient | null = null;
  private stopping = false;
  private availability: Availability = 'unknown';
  private subscribed = false;
  private lastError: string | null = null;
  private lastMessageAt: string | null = null;
  private readonly tracked = new Map<string, Tracked>();
  private wake: (() => void) | null = null;
  readonly counters: FrigateCounters = { received: 0, stored: 0, follow_ups: 0, absorbed: 0, duplicates: 0, ignored: 0, refused: {} };
  readonly clientId: string;
  private readonly topics: { reviews: string; events: string; available: string };

  constructor(private readonly d: FrigateSourceDeps) {
    const prefix = d.config.topic_prefix.replace(/\/+$/, '');
    this.topics = { reviews: `${prefix}/reviews`, events: `${prefix}/events`, available: `${prefix}/available` };
    this.clientId = d.config.client_id || `safesphere-edge-frigate-${d.siteId}`;
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Connects in the background: an unreachable Frigate broker never fails the gateway's start. */
  start(): void {
    const c = this.d.config;
    const opts: IClientOptions = {
      clientId: this.clientId,
      clean: false,
      protocolVersion: 4,
      keepalive: c.keepalive_s,
      reconnectPeriod: c.reconnect_ms,
      connectTimeout: 10_000,
      rejectUnauthorized: c.reject_unauthorized,
      resubscribe: false, // subscribed on every connect below
    };
    if (c.username) opts.username = c.username;
    const password = this.d.password();
    if (password) opts.password = password;
    if (c.ca_file) opts.ca = readFileSync(c.ca_file);
    if (c.cert_file) opts.cert = readFileSync(c.cert_file);
    if (c.key_file) opts.key = readFileSync(c.key_file);
    const client = mqtt.connect(c.url, opts);
    // The PUBACK for a QoS 1 message is sent when `done` is called, so only after the commit.
    client.handleMessage = (packet: IPublishPacket, done: (err?: Error) => void) => {
      this.handle(packet.topic, Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload)).then(
        (ack) => {
          if (ack) done();
        },
        (err: unknown) => {
          // Not acknowledged: drop the connection so the broker's session delivers it again.
          this.d.log.error({ err, topic: packet.topic }, 'frigate message handler failed; not acknowledged, reconnecting');
          client.stream?.destroy();
        },
      );
    };
    client.on('connect', (ack) => {
      this.lastError = null;
      this.d.log.info({ url: c.url, clientId: this.clientId, sessionPresent: ack.sessionPresent }, 'frigate broker connected');
      const subs: Record<string, { qos: 1 }> = { [this.topics.reviews]: { qos: 1 }, [this.topics.available]: { qos: 1 } };
      if (c.events) subs[this.topics.events] = { qos: 1 };
      client.subscribe(subs, (err) => {
        if (err) {
          this.lastError = `subscribe: ${err.message}`;
          this.d.log.error({ err: err.message }, 'frigate subscribe failed');
        } else {
          this.subscribed = true;
          this.d.log.info({ topics: Object.keys(subs) }, 'frigate subscribed');
        }
      });
    });
    client.on('error', (err) => {
      this.lastError = err.message;
      this.d.log.warn({ err: err.message, url: c.url }, 'frigate broker error');
    });
    client.on('offline', () => this.d.log.warn({ url: c.url }, 'frigate broker offline; reconnecting'));
    this.client = client;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    const client = this.client;
    this.client = null;
    if (!client) return;
    // Forced: messages not yet acknowledged stay with the broker's session for the next start.
    await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
  }

  health(): ComponentHealth {
    const status = !this.connected ? 'degraded' : this.availability === 'offline' || this.availability === 'stopped' ? 'degraded' : 'up';
    return {
      status,
      broker: this.d.config.url,
      broker_connected: this.connected,
      subscribed: this.subscribed,
      frigate: this.availability,
      ...(this.lastError ? { error: this.lastError } : {}),
      last_message_at: this.lastMessageAt,
      ...this.counters,
      refused: { ...this.counters.refused },
    };
  }

  /** Handles one message; resolves true when it may be acknowledged. */
  async handle(topic: string, payload: Buffer): Promise<boolean> {
    this.lastMessageAt = new Date().toISOString();
    if (topic === this.topics.available) {
      const text = payload.toString('utf8').trim().toLowerCase();
      const next: Availability = text === 'online' || text === 'offline' || text === 'stopped' ? text : 'unknown';
      if (next !== this.availability) this.d.log[next === 'online' ? 'info' : 'warn']({ frigate: next }, 'frigate availability');
      this.availability = next;
      return true;
    }
    const kind = topic === this.topics.reviews ? 'review' : topic === this.topics.events && this.d.config.events ? 'event' : null;
    if (!kind) return true;
    this.counters.received++;
    let mapped: (a: Assessment, id: string, follows?: Tracked & { id: string }) => MappedReport;
    let assessment: Assessment;
    let itemId: string;
    try {
      if (kind === 'review') {
        const msg = parseReviewMessage(payload, this.d.config.max_payload_bytes);
        assessment = assessReview(this.d.config, msg.after);
        itemId = msg.after.id;
        mapped = (a, id, f) => reviewReport(this.d.config, this.d.maxText, msg, a, id, f ? { follows: { incident_id: f.id, level: f.level, weapon: f.weapon } } : {});
      } else {
        const msg = parseEventMessage(payload, this.d.config.max_payload_bytes);
        if (msg.after.false_positive) {
          this.counters.ignored++;
          return true;
        }
        assessment = assessEvent(this.d.config, msg.after);
        itemId = msg.after.id;
        mapped = (a, id, f) => eventReport(this.d.config, this.d.maxText, msg, a, id, f ? { follows: { incident_id: f.id, level: f.level, weapon: f.weapon } } : {});
      }
    } catch (err) {
      this.refuse(err, topic);
      return true; // refused for good: acknowledged, so the broker does not send it again
    }

    const ids = incidentIds(kind, itemId);
    const trackKey = `${kind}:${itemId}`;
    const known = this.tracked.get(trackKey) ?? this.recover(ids);
    let report: MappedReport;
    let followUp = false;
    if (!known) {
      report = mapped(assessment, ids.base);
    } else if (assessment.key > known.key) {
      report = mapped(assessment, ids.followUp(assessment.key), { ...known, id: ids.base });
      followUp = true;
    } else {
      this.counters.absorbed++;
      this.remember(trackKey, known);
      return true;
    }
    const stored = await this.submit(report, topic);
    if (stored === null) return false; // stopping: not acknowledged, the broker keeps it
    if (stored === 'refused') return true;
    if (stored === 'duplicate') this.counters.duplicates++;
    else if (followUp) this.counters.follow_ups++;
    else this.counters.stored++;
    this.remember(trackKey, { key: assessment.key, level: assessment.level, weapon: assessment.weapons.length > 0 });
    return true;
  }

  /** After a restart (or eviction): the highest escalation step already stored for this item. */
  private recover(ids: ReturnType<typeof incidentIds>): Tracked | null {
    const incidents = this.d.incidents;
    if (!incidents.exists(ids.base)) return null;
    // Steps are taken from what each incident reported: the re-scorer may have changed threat_level.
    for (const key of keysAbove(-1)) {
      const up = incidents.get(ids.followUp(key));
      if (up) return { key, level: up.reported_level, weapon: up.weapon_detected };
    }
    const base = incidents.get(ids.base)!;
    return { key: escalationKey(base.reported_level, base.weapon_detected), level: base.reported_level, weapon: base.weapon_detected };
  }

  private remember(key: string, t: Tracked): void {
    this.tracked.delete(key);
    this.tracked.set(key, t);
    if (this.tracked.size > this.d.config.max_tracked) this.tracked.delete(this.tracked.keys().next().value!);
  }

  /** Validate → pipeline (re-score, commit). Retries what a resend can fix until stopped. */
  private async submit(report: MappedReport, topic: string): Promise<'stored' | 'duplicate' | 'refused' | null> {
    let delay = 100;
    for (;;) {
      try {
        const valid = this.d.validator.validate(report.body, 'frigate', report.body.camera_id as string, { provenance: report.provenance });
        const outcome = await this.d.pipeline.submit(valid);
        return outcome.kind;
      } catch (err) {
        if (err instanceof GatewayError && RETRYABLE.has(err.code)) {
          if (this.stopping) return null;
          this.d.log.warn({ code: err.code, incident_id: report.body.incident_id, retry_ms: delay }, 'frigate report not stored yet; retrying');
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, delay);
            this.wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          this.wake = null;
          if (this.stopping) return null;
          delay = Math.min(delay * 2, 5000);
          continue;
        }
        this.refuse(err, topic);
        return 'refused';
      }
    }
  }

  private refuse(err: unknown, topic: string): void {
    const code = err instanceof GatewayError ? err.code : ERRORS.INTERNAL.code;
    this.counters.refused[code] = (this.counters.refused[code] ?? 0) + 1;
    const details = err instanceof GatewayError ? err.details : [];
    this.d.log.warn({ code, topic, details: details.slice(0, 5), err: err instanceof GatewayError ? undefined : err }, 'frigate message refused');
    this.d.bus.emit('report.rejected', { source: 'frigate', cameraId: null, code, message: (err as Error).message });
  }
}
