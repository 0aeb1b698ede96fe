// Frigate's MQTT messages (docs.frigate.video/integrations/mqtt) → threat_cv-shaped reports.
// Pure functions: parse and check a payload, work out its level, build the report body and its
// provenance. What to do with it (new incident, follow-up, absorbed) is source.ts's.
import { Ajv, type ValidateFunction } from 'ajv';
import { Type, type Static } from '@sinclair/typebox';
import { LEVELS, type GatewayConfig, type ThreatLevel } from '../config/schema.js';
import { ERRORS, GatewayError } from '../errors.js';
import { levelIndex } from '../levels.js';
import { parseJsonBody } from '../validate/report.js';

type FrigateConfig = GatewayConfig['frigate'];

/** Frigate's ids ("1718987129.308396-fqk5ka") and camera names ([A-Za-z0-9_-]). */
const FRIGATE_ID = '^[A-Za-z0-9_.-]{1,96}$';
const CAMERA = '^[A-Za-z0-9_-]{1,64}$';
const labels = Type.Array(Type.String({ maxLength: 128 }), { maxItems: 256 });

/** A review item as `frigate/reviews` carries it in `before` and `after`. */
const Review = Type.Object({
  id: Type.String({ pattern: FRIGATE_ID }),
  camera: Type.String({ pattern: CAMERA }),
  start_time: Type.Number({ minimum: 0, maximum: 1e11 }),
  end_time: Type.Union([Type.Number({ minimum: 0, maximum: 1e11 }), Type.Null()]),
  severity: Type.String({ maxLength: 32 }),
  thumb_path: Type.Optional(Type.Union([Type.String({ maxLength: 1024 }), Type.Null()])),
  data: Type.Object({
    detections: Type.Array(Type.String({ pattern: FRIGATE_ID }), { maxItems: 1024 }),
    objects: labels,
    sub_labels: Type.Optional(Type.Array(Type.Unknown(), { maxItems: 256 })),
    zones: Type.Optional(labels),
    audio: Type.Optional(labels),
  }),
});
export type FrigateReview = Static<typeof Review>;

/** A tracked object as `frigate/events` carries it (the fields this source reads). */
const TrackedObject = Type.Object({
  id: Type.String({ pattern: FRIGATE_ID }),
  camera: Type.String({ pattern: CAMERA }),
  label: Type.String({ minLength: 1, maxLength: 128 }),
  sub_label: Type.Optional(Type.Unknown()),
  top_score: Type.Optional(Type.Number()),
  false_positive: Type.Optional(Type.Boolean()),
  start_time: Type.Number({ minimum: 0, maximum: 1e11 }),
  end_time: Type.Optional(Type.Union([Type.Number({ minimum: 0, maximum: 1e11 }), Type.Null()])),
  current_zones: Type.Optional(labels),
  entered_zones: Type.Optional(labels),
  has_clip: Type.Optional(Type.Boolean()),
  has_snapshot: Type.Optional(Type.Boolean()),
});
export type FrigateTrackedObject = Static<typeof TrackedObject>;

const message = <T extends ReturnType<typeof Type.Object>>(item: T) =>
  Type.Object({
    type: Type.Union([Type.Literal('new'), Type.Literal('update'), Type.Literal('end')]),
    before: Type.Optional(Type.Unknown()),
    after: item,
  });
const ReviewMessage = message(Review);
const EventMessage = message(TrackedObject);
export type ReviewMessage = Static<typeof ReviewMessage>;
export type EventMessage = Static<typeof EventMessage>;

const ajv = new Ajv({ allErrors: true, strict: false });
const checkReview: ValidateFunction<ReviewMessage> = ajv.compile<ReviewMessage>(ReviewMessage);
const checkEvent: ValidateFunction<EventMessage> = ajv.compile<EventMessage>(EventMessage);

export const SEVERITIES = ['alert', 'detection'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** The fixed threat_score of each level (Frigate gives object confidences, not a threat score). */
export const LEVEL_SCORE: Record<ThreatLevel, number> = { LOW: 0.3, MEDIUM: 0.55, HIGH: 0.8, CRITICAL: 0.95 };

function parse<T>(raw: Buffer, maxBytes: number, check: ValidateFunction<T>): T {
  if (raw.length > maxBytes) {
    throw new GatewayError(ERRORS.PAYLOAD_TOO_LARGE, [{ path: '(body)', message: `is ${raw.length} bytes; the limit is ${maxBytes}` }]);
  }
  const body = parseJsonBody(raw);
  if (!check(body)) {
    const details = (check.errors ?? []).slice(0, 10).map((e) => ({
      path: e.instancePath.split('/').filter(Boolean).join('.') || '(body)',
      message: e.message ?? 'is invalid',
    }));
    throw new GatewayError(ERRORS.INVALID_SOURCE_EVENT, details);
  }
  return body;
}

/** A `frigate/reviews` payload, checked; an unknown severity is its own refusal. */
export function parseReviewMessage(raw: Buffer, maxBytes: number): ReviewMessage {
  const msg = parse(raw, maxBytes, checkReview);
  if (!(SEVERITIES as readonly string[]).includes(msg.after.severity)) {
    throw new GatewayError(ERRORS.UNKNOWN_SEVERITY, [{ path: 'after.severity', message: `is "${msg.after.severity.slice(0, 32)}"; expected alert or detection` }]);
  }
  return msg;
}

export function parseEventMessage(raw: Buffer, maxBytes: number): EventMessage {
  return parse(raw, maxBytes, checkEvent);
}

const maxLevel = (...levels: ThreatLevel[]): ThreatLevel => levels.reduce((a, b) => (levelIndex(b) > levelIndex(a) ? b : a), 'LOW');

/** What an item amounts to: its level, its weapons, and the escalation key they give. */
export interface Assessment {
  level: ThreatLevel;
  weapons: string[];
  person: boolean;
  /** Orders escalations: a higher level, or the same level with a weapon added. */
  key: number;
}

export const escalationKey = (level: ThreatLevel, weapon: boolean): number => levelIndex(level) * 2 + (weapon ? 1 : 0);

export function assess(config: FrigateConfig, severityLevel: ThreatLevel, objects: readonly string[]): Assessment {
  const weaponLabels = new Set(config.weapon_labels.map((l) => l.toLowerCase()));
  const lower = objects.map((o) => o.toLowerCase());
  const weapons = [...new Set(lower.filter((o) => weaponLabels.has(o)))];
  const person = lower.includes('person');
  const level = maxLevel(severityLevel, person ? config.levels.person : 'LOW', weapons.length ? config.levels.weapon : 'LOW');
  return { level, weapons, person, key: escalationKey(level, weapons.length > 0) };
}

export const assessReview = (config: FrigateConfig, r: FrigateReview): Assessment =>
  assess(config, config.levels[r.severity as Severity], r.data.objects);

/** A tracked object has no severity: its label alone gives the level (a detection, or person/weapon). */
export const assessEvent = (config: FrigateConfig, e: FrigateTrackedObject): Assessment => assess(config, config.levels.detection, [e.label]);

/** The incident ids of one review or tracked object: the first incident, and the follow-up for a key. */
export function incidentIds(kind: 'review' | 'event', id: string) {
  const base = kind === 'review' ? `frigate:${id}` : `frigate:event:${id}`;
  return {
    base,
    followUp: (key: number) => `${base}:${LEVELS[key >> 1]}${key & 1 ? ':weapon' : ''}`,
  };
}

/** Every follow-up key above `key`, highest first (to find the highest one stored). */
export const keysAbove = (key: number): number[] => Array.from({ length: LEVELS.length * 2 }, (_, k) => LEVELS.length * 2 - 1 - k).filter((k) => k > key);

const iso = (epochS: number): string => new Date(Math.round(epochS * 1000)).toISOString();

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

export interface MappedReport {
  body: Record<string, unknown>;
  provenance: { key: string; ref: Record<string, unknown> };
}

interface Link {
  /** The incident this one follows up (absent on the first). */
  follows?: { incident_id: string; level: ThreatLevel; weapon: boolean };
}

export function reviewReport(
  config: FrigateConfig,
  maxText: number,
  msg: ReviewMessage,
  a: Assessment,
  incidentId: string,
  link: Link = {},
): MappedReport {
  const r = msg.after;
  const zones = r.data.zones ?? [];
  const subLabels = (r.data.sub_labels ?? []).filter((s): s is string => typeof s === 'string');
  const summary =
    `Frigate ${r.severity} on ${r.camera}: ${r.data.objects.join(', ') || 'no objects'}` +
    (zones.length ? ` in ${zones.join(', ')}` : '') +
    (subLabels.length ? ` (${subLabels.join(', ')})` : '') +
    (link.follows ? ` — raised from ${link.follows.level}${a.weapons.length && !link.follows.weapon ? ', weapon added' : ''}` : '');
  const base = config.frigate_url.replace(/\/+$/, '');
  return {
    body: {
      incident_id: incidentId,
      timestamp: iso(r.start_time),
      threat_level: a.level,
      threat_score: LEVEL_SCORE[a.level],
      weapon_detected: a.weapons.length > 0,
      weapon_types: a.weapons,
      behavior_summary: clip(summary, maxText),
      is_critical: a.level === 'CRITICAL',
      camera_id: `${config.camera_prefix}${r.camera}`,
      full_telemetry: { frigate: { topic: 'reviews', type: msg.type, review: r } },
    },
    provenance: {
      key: r.id,
      ref: {
        kind: 'review',
        review_id: r.id,
        camera: r.camera,
        severity: r.severity,
        event_ids: r.data.detections,
        objects: r.data.objects,
        zones,
        thumb_path: r.thumb_path ?? null,
        review_url: base ? `${base}/review?id=${encodeURIComponent(r.id)}` : null,
        ...(link.follows ? { follows: link.follows.incident_id } : {}),
      },
    },
  };
}

export function eventReport(
  config: FrigateConfig,
  maxText: number,
  msg: EventMessage,
  a: Assessment,
  incidentId: string,
  link: Link = {},
): MappedReport {
  const e = msg.after;
  const zones = e.current_zones ?? e.entered_zones ?? [];
  const summary =
    `Frigate tracked ${e.label} on ${e.camera}` +
    (zones.length ? ` in ${zones.join(', ')}` : '') +
    (link.follows ? ` — raised from ${link.follows.level}` : '');
  const base = config.frigate_url.replace(/\/+$/, '');
  const id = encodeURIComponent(e.id);
  return {
    body: {
      incident_id: incidentId,
      timestamp: iso(e.start_time),
      threat_level: a.level,
      threat_score: LEVEL_SCORE[a.level],
      weapon_detected: a.weapons.length > 0,
      weapon_types: a.weapons,
      behavior_summary: clip(summary, maxText),
      is_critical: a.level === 'CRITICAL',
      camera_id: `${config.camera_prefix}${e.camera}`,
      full_telemetry: { frigate: { topic: 'events', type: msg.type, event: e } },
    },
    provenance: {
      key: `event:${e.id}`,
      ref: {
        kind: 'event',
        event_id: e.id,
        camera: e.camera,
        label: e.label,
        top_score: e.top_score ?? null,
        zones,
        clip_url: base && e.has_clip ? `${base}/api/events/${id}/clip.mp4` : null,
        snapshot_url: base && e.has_snapshot ? `${base}/api/events/${id}/snapshot.jpg` : null,
        ...(link.follows ? { follows: link.follows.incident_id } : {}),
      },
    },
  };
}
