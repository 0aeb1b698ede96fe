// The "validate" stage: one validator for reports from every transport.
import { createHash } from 'node:crypto';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { Type, type Static } from '@sinclair/typebox';
import secureJson from 'secure-json-parse';
import { ID_PATTERN, LEVELS, type GatewayConfig, type IncidentSource, type ThreatLevel } from '../config/schema.js';
import { ERRORS, GatewayError, type ErrorDetail } from '../errors.js';

/** ISO 8601 date-time as threat_cv writes it: an offset is optional, fractions up to nanoseconds. */
const ISO_8601 = '^\\d{4}-\\d{2}-\\d{2}[T ]\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:?\\d{2})?$';

type FieldLimits = Pick<GatewayConfig['report'], 'max_string_length' | 'max_weapon_types'>;

/** The threat_cv report's own fields: the one list the schema and the store's extra_fields split use. */
function reportFields(limits: FieldLimits) {
  const text = Type.String({ maxLength: limits.max_string_length });
  return {
    incident_id: Type.String({ minLength: 1, maxLength: 128, pattern: ID_PATTERN }),
    timestamp: Type.String({ maxLength: 40, pattern: ISO_8601 }),
    threat_level: Type.Unsafe<ThreatLevel>({ type: 'string', enum: [...LEVELS] }),
    threat_score: Type.Number({ minimum: 0, maximum: 1 }),
    people_count: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000 })),
    weapon_detected: Type.Optional(Type.Boolean()),
    weapon_types: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: limits.max_weapon_types })),
    behavior_summary: Type.Optional(text),
    is_critical: Type.Optional(Type.Boolean()),
    full_telemetry: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    camera_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: ID_PATTERN })),
  };
}

/** Names of the report's own fields; anything else a camera sends is kept as extra_fields. */
export const REPORT_FIELDS: ReadonlySet<string> = new Set(Object.keys(reportFields({ max_string_length: 1, max_weapon_types: 1 })));

export function reportSchema(limits: GatewayConfig['report']) {
  return Type.Object(
    reportFields(limits),
    // threat_cv may add fields over time; unknown top-level fields are kept inside the
    // stored report rather than refused, but they must stay within the size limit.
    { additionalProperties: true },
  );
}

export type ThreatReport = Static<ReturnType<typeof reportSchema>>;

/** A report that passed validation, with the transport facts attached. */
export interface ValidReport {
  report: ThreatReport;
  cameraId: string | null;
  source: IncidentSource;
  /** The source's own id and its ids and links (Frigate, ONVIF); null for threat_cv reports. */
  sourceKey?: string | null;
  sourceRef?: Record<string, unknown> | null;
  /** SHA-256 of the canonical report JSON: equal content gives equal hashes. */
  contentHash: string;
  receivedAt: number;
}

interface Level {
  /** Keys seen so far (objects), null for arrays. */
  keys: Set<string> | null;
  path: string;
  key: string;
  index: number;
}

const childPath = (parent: Level | undefined): string => {
  if (!parent) return '';
  if (parent.keys) return parent.path ? `${parent.path}.${parent.key}` : parent.key;
  return `${parent.path}[${parent.index}]`;
};

/**
 * The path of the first key that repeats within one object of already-valid JSON `text`
 * (`threat_level`, `full_telemetry.tracks[0].id`), else null. JSON.parse lets the last one win,
 * so `"threat_level":"LOW","threat_level":"CRITICAL"` would read as CRITICAL to us and as
 * LOW to a reader that keeps the first: one linear scan, no second parse.
 */
export function duplicateKey(text: string): string | null {
  const stack: Level[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      let j = i + 1;
      let escaped = false;
      for (; j < text.length; j++) {
        const d = text.charCodeAt(j);
        if (d === 0x5c) {
          escaped = true;
          j++;
        } else if (d === 0x22) break;
      }
      const top = stack[stack.length - 1];
      if (expectKey && top?.keys) {
        const key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
        if (top.keys.has(key)) return top.path ? `${top.path}.${key}` : key;
        top.keys.add(key);
        top.key = key;
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b || c === 0x5b) {
      const path = childPath(stack[stack.length - 1]);
      stack.push({ keys: c === 0x7b ? new Set() : null, path, key: '', index: 0 });
      expectKey = c === 0x7b;
    } else if (c === 0x7d || c === 0x5d) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c) {
      const top = stack[stack.length - 1];
      if (top?.keys) expectKey = true;
      else if (top) top.index++;
    }
  }
  return null;
}

/**
 * The JSON parser for reports from every transport. Keys that could reach an object's
 * prototype (`__proto__`, `constructor.prototype`) are refused, not silently stripped, and so
 * is a key repeated within one object (DUPLICATE_KEY, naming it).
 */
export function parseJsonBody(raw: Buffer | string): unknown {
  const text = typeof raw === 'string' ? raw : raw.toString('utf8');
  let value: unknown;
  try {
    value = secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (err) {
    const message = /prototype/i.test((err as Error).message)
      ? 'contains a forbidden __proto__ or constructor.prototype key'
      : (err as Error).message;
    throw new GatewayError(ERRORS.MALFORMED_JSON, [{ path: '(body)', message }]);
  }
  const repeated = value !== null && typeof value === 'object' ? duplicateKey(text) : null;
  if (repeated !== null) {
    throw new GatewayError(ERRORS.DUPLICATE_KEY, [{ path: repeated, message: 'appears more than once in the same object; send each key once' }], `The JSON body repeats the key "${repeated}"`);
  }
  return value;
}

const DATE_PARTS = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?/;

/** Date.parse rolls 2026-02-30 over to March; this refuses dates and times that do not exist. */
function isRealDateTime(text: string): boolean {
  const m = DATE_PARTS.exec(text);
  if (!m || Number.isNaN(Date.parse(text.replace(' ', 'T')))) return false;
  const [year, month, day, hour, minute, second] = m.slice(1).map((v) => Number(v ?? 0)) as number[];
  const date = new Date(Date.UTC(year!, month! - 1, day!, hour!, minute!, second!));
  return (
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month! - 1 &&
    date.getUTCDate() === day &&
    date.getUTCHours() === hour &&
    date.getUTCMinutes() === minute &&
    date.getUTCSeconds() === second
  );
}

function depthOf(value: unknown, limit: number, depth = 1): number {
  if (depth > limit || value === null || typeof value !== 'object') return depth;
  let max = depth;
  for (const child of Object.values(value as Record<string, unknown>)) {
    if (child !== null && typeof child === 'object') {
      max = Math.max(max, depthOf(child, limit, depth + 1));
      if (max > limit) break;
    }
  }
  return max;
}

/** JSON with object keys sorted, so two equal reports serialise to the same bytes. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.keys(value as object)
    .sort()
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

function detailFor(e: ErrorObject): ErrorDetail {
  const path = e.instancePath.split('/').filter(Boolean).join('.');
  if (e.keyword === 'required') {
    const field = (e.params as { missingProperty: string }).missingProperty;
    return { path: path ? `${path}.${field}` : field, message: 'is required' };
  }
  if (e.keyword === 'enum') {
    return { path, message: `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}` };
  }
  if (e.keyword === 'pattern') {
    const message =
      path === 'timestamp'
        ? 'must be an ISO 8601 date-time'
        : 'may contain only letters, digits and _ . : -';
    return { path, message };
  }
  return { path: path || '(body)', message: e.message ?? 'is invalid' };
}

export interface ValidateOptions {
  provenance?: { key: string; ref: Record<string, unknown> } | null;
  defaultCameraId?: string | null;
}

export class ReportValidator {
  private readonly check: ValidateFunction<ThreatReport>;

  constructor(private readonly limits: GatewayConfig['report']) {
    const ajv = new Ajv({ allErrors: true, strict: false });
    this.check = ajv.compile<ThreatReport>(reportSchema(limits));
  }

  get maxPayloadBytes(): number {
    return this.limits.max_payload_bytes;
  }

  /** Parses raw bytes (MQTT payloads) and validates them. */
  parse(raw: Buffer | string, source: ValidReport['source'], topicCameraId: string | null): ValidReport {
    const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
    if (size > this.limits.max_payload_bytes) {
      throw new GatewayError(ERRORS.PAYLOAD_TOO_LARGE, [
        { path: '(body)', message: `is ${size} bytes; the limit is ${this.limits.max_payload_bytes}` },
      ]);
    }
    return this.validate(parseJsonBody(raw), source, topicCameraId);
  }

  /**
   * Validates an already-parsed body (HTTP, and the report sources). `provenance`: the source's
   * own ids (Frigate, ONVIF); `defaultCameraId`: the camera a body without a camera_id is stored
   * under (the credential's own camera).
   */
  validate(body: unknown, source: ValidReport['source'], topicCameraId: string | null, options: ValidateOptions = {}): ValidReport {
    const { provenance = null, defaultCameraId = null } = options;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new GatewayError(ERRORS.INVALID_REPORT, [{ path: '(body)', message: 'must be a JSON object' }]);
    }
    const details: ErrorDetail[] = [];
    if (!this.check(body)) details.push(...(this.check.errors ?? []).map(detailFor));
    const report = body as ThreatReport;

    if (typeof report.timestamp === 'string' && !details.some((d) => d.path === 'timestamp')) {
      if (!isRealDateTime(report.timestamp)) details.push({ path: 'timestamp', message: 'is not a real date and time' });
    }
    // Every field, not only full_telemetry: deep nesting anywhere would overflow the stack later.
    const maxDepth = this.limits.max_telemetry_depth;
    for (const [field, value] of Object.entries(report)) {
      if (value !== null && typeof value === 'object' && depthOf(value, maxDepth) > maxDepth) {
        details.push({ path: field, message: `nests deeper than ${maxDepth} levels` });
      }
    }
    if (topicCameraId !== null && report.camera_id !== undefined && report.camera_id !== topicCameraId) {
      details.push({ path: 'camera_id', message: `does not match the topic's camera id "${topicCameraId}"` });
    }
    if (details.length > 0) throw new GatewayError(ERRORS.INVALID_REPORT, details);

    const cameraId = topicCameraId ?? report.camera_id ?? defaultCameraId ?? null;
    const normalized: ThreatReport = cameraId === null ? report : { ...report, camera_id: cameraId };
    return {
      report: normalized,
      cameraId,
      source,
      sourceKey: provenance?.key ?? null,
      sourceRef: provenance?.ref ?? null,
      contentHash: createHash('sha256').update(canonicalJson(normalized)).digest('hex'),
      receivedAt: Date.now(),
    };
  }
}

const INCIDENT_ID = new RegExp(ID_PATTERN);

/**
 * The incident_id of a payload that failed validation, when it parses as JSON and the id itself
 * is well formed (so a reject message can name the report it refuses); null otherwise.
 */
export function reportIdOf(raw: Buffer | string): string | null {
  try {
    const body = parseJsonBody(raw) as { incident_id?: unknown } | null;
    const id = body && typeof body === 'object' && !Array.isArray(body) ? body.incident_id : undefined;
    return typeof id === 'string' && id.length >= 1 && id.length <= 128 && INCIDENT_ID.test(id) ? id : null;
  } catch {
    return null;
  }
}
