// ONVIF notification messages (as the onvif package parses a PullMessagesResponse) → events,
// topics → levels, the hold-off window, and the report body. Pure functions and a small class.
import { createHash } from 'node:crypto';
import type { GatewayConfig, ThreatLevel } from '../config/schema.js';
import { canonicalJson } from '../validate/report.js';

type TopicRule = GatewayConfig['onvif']['topics'][number];

export interface OnvifEvent {
  /** The topic as the camera sent it (tns1:RuleEngine/FieldDetector/ObjectsInside). */
  topic: string;
  /** Namespace prefixes removed: RuleEngine/FieldDetector/ObjectsInside. */
  path: string;
  utcTime: string | null;
  operation: string | null;
  source: Record<string, string>;
  data: Record<string, string>;
}

/** A value the package's linerase may have turned into a boolean, number or Date. */
const text = (v: unknown): string => (v instanceof Date ? v.toISOString() : v === null || v === undefined ? '' : String(v));

function simpleItems(node: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!node || typeof node !== 'object') return out;
  const items = (node as { simpleItem?: unknown }).simpleItem;
  for (const item of Array.isArray(items) ? items : items ? [items] : []) {
    const attrs = (item as { $?: { Name?: unknown; Value?: unknown } }).$;
    if (attrs && attrs.Name !== undefined) out[text(attrs.Name).slice(0, 128)] = text(attrs.Value).slice(0, 512);
  }
  return out;
}

export const topicPath = (topic: string): string =>
  topic
    .trim()
    .split('/')
    .map((segment) => segment.replace(/^[^:]*:/, ''))
    .filter(Boolean)
    .join('/');

/** One notification message, or null when it has no topic. */
export function toEvent(notification: unknown): OnvifEvent | null {
  if (!notification || typeof notification !== 'object') return null;
  const n = notification as { topic?: unknown; message?: { message?: unknown } };
  const rawTopic = typeof n.topic === 'object' && n.topic !== null ? (n.topic as { _?: unknown })._ : n.topic;
  const topic = text(rawTopic).slice(0, 512);
  if (!topic) return null;
  const m = (n.message?.message ?? {}) as { $?: { UtcTime?: unknown; PropertyOperation?: unknown }; source?: unknown; data?: unknown };
  return {
    topic,
    path: topicPath(topic),
    utcTime: m.$?.UtcTime !== undefined ? text(m.$.UtcTime) : null,
    operation: m.$?.PropertyOperation !== undefined ? text(m.$.PropertyOperation) : null,
    source: simpleItems(m.source),
    data: simpleItems(m.data),
  };
}

/** The first enabled rule whose path occurs in the topic's path, segment-aligned. */
export function ruleFor(rules: readonly TopicRule[], path: string): TopicRule | null {
  const hay = `/${path.toLowerCase()}/`;
  for (const rule of rules) {
    if (rule.match.some((p) => hay.includes(`/${topicPath(p).toLowerCase()}/`))) return rule.enabled ? rule : null;
  }
  return null;
}

const ON = new Set(['true', '1', 'on', 'active']);
const OFF = new Set(['false', '0', 'off', 'inactive']);

/**
 * Whether the event starts something. A property's initial state (PropertyOperation
 * "Initialized", sent on every new subscription) is not an event; a state going false is an
 * end; a message without a boolean item (line crossing: ObjectId) is an event in itself.
 */
export function isActive(e: OnvifEvent): boolean {
  if (e.operation === 'Initialized' || e.operation === 'Deleted') return false;
  const flags = Object.values(e.data).map((v) => v.toLowerCase()).filter((v) => ON.has(v) || OFF.has(v));
  return flags.length === 0 || flags.some((v) => ON.has(v));
}

/** Repeats of one camera's topic and source within the window are one event. */
export class HoldOff {
  private readonly last = new Map<string, number>();
  constructor(private readonly windowMs: number) {}

  /** True when the event is new (and starts a window); false when it repeats one. */
  admit(cameraId: string, e: OnvifEvent, kind: string, now = Date.now()): boolean {
    const key = `${cameraId}|${kind}|${e.path}|${canonicalJson(e.source)}`;
    const prev = this.last.get(key);
    if (prev !== undefined && now - prev < this.windowMs) return false;
    this.last.set(key, now);
    if (this.last.size > 4096) {
      for (const [k, at] of this.last) if (now - at >= this.windowMs) this.last.delete(k);
    }
    return true;
  }
}

const LEVEL_SCORE: Record<ThreatLevel, number> = { LOW: 0.3, MEDIUM: 0.55, HIGH: 0.8, CRITICAL: 0.95 };
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/;

export function eventReport(cameraId: string, address: string, e: OnvifEvent, rule: TopicRule, receivedAt: number) {
  const hash = createHash('sha256').update(canonicalJson({ cameraId, topic: e.topic, utc: e.utcTime, source: e.source, data: e.data })).digest('hex');
  const timestamp = e.utcTime && ISO.test(e.utcTime) ? e.utcTime : new Date(receivedAt).toISOString();
  const rulename = e.source.Rule ?? e.source.RuleName ?? null;
  return {
    body: {
      incident_id: `onvif:${cameraId}:${hash.slice(0, 24)}`,
      timestamp,
      threat_level: rule.level,
      threat_score: LEVEL_SCORE[rule.level],
      weapon_detected: false,
      behavior_summary: `ONVIF ${rule.kind.replace(/_/g, ' ')} on ${cameraId}: ${e.path}${rulename ? ` (rule ${rulename})` : ''}`,
      is_critical: rule.level === 'CRITICAL',
      camera_id: cameraId,
      full_telemetry: { onvif: { topic: e.topic, operation: e.operation, source: e.source, data: e.data } },
    },
    provenance: {
      key: cameraId,
      ref: { kind: rule.kind, camera: cameraId, address, topic: e.topic, utc_time: e.utcTime, property_operation: e.operation, source: e.source, data: e.data },
    },
  };
}
