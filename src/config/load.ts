import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import type { TSchema } from '@sinclair/typebox';
import { arcProblems } from './arc.js';
import { armingProblems } from './arming.js';
import { contactProblems } from './contacts.js';
import { ConfigSchema, type GatewayConfig } from './schema.js';

export const ENV_PREFIX = 'SAFESPHERE_';
/** Environment variables with this prefix that are not config keys. */
// SAFESPHERE_EDGE_BROKER_*: set by the Node-RED host for its flows (src/automation/node-red-host.ts), inherited by children.
const RESERVED_ENV = new Set(['SAFESPHERE_CONFIG', 'SAFESPHERE_EDGE_BROKER_HOST', 'SAFESPHERE_EDGE_BROKER_PORT']);

/** Every problem in a configuration, each with its key path. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

interface Leaf {
  path: string[];
  schema: TSchema;
}

/** The schema's leaves: scalars, arrays, and objects without declared properties. */
export function configLeaves(schema: TSchema = ConfigSchema, path: string[] = []): Leaf[] {
  if (schema.type === 'object' && schema.properties) {
    return Object.entries(schema.properties as Record<string, TSchema>).flatMap(([key, child]) =>
      configLeaves(child, [...path, key]),
    );
  }
  return [{ path, schema }];
}

export const envName = (path: string[]): string => ENV_PREFIX + path.join('_').toUpperCase();

function coerceEnv(raw: string, schema: TSchema): unknown {
  const type = schema.type;
  if (type === 'integer' || type === 'number') {
    const n = Number(raw);
    return raw.trim() !== '' && Number.isFinite(n) ? n : raw;
  }
  if (type === 'boolean') {
    if (/^(true|1|yes|on)$/i.test(raw)) return true;
    if (/^(false|0|no|off)$/i.test(raw)) return false;
    return raw;
  }
  if (type === 'array' || type === 'object') return JSON.parse(raw) as unknown;
  return raw;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

/** Where a value came from the environment: its variable and the raw text (secrets masked). */
type EnvSources = Map<string, string>;

const SECRET_KEY = /token|password|secret|api_key|key_file|credential/i;

function envNote(name: string, raw: string): string {
  const shown = SECRET_KEY.test(name) ? '<hidden>' : JSON.stringify(raw.length > 60 ? `${raw.slice(0, 60)}…` : raw);
  return `${name}=${shown}`;
}

function formatAjvError(e: ErrorObject, fromEnv: EnvSources = new Map()): string {
  const text = formatAjvProblem(e);
  // The environment variable that set this key (or the object it is in), with its value.
  const path = e.instancePath.split('/').filter(Boolean);
  for (let n = path.length; n > 0; n--) {
    const note = fromEnv.get(path.slice(0, n).join('.'));
    if (note) return `${text} (${note})`;
  }
  return text;
}

function formatAjvProblem(e: ErrorObject): string {
  const path = e.instancePath.split('/').filter(Boolean);
  if (e.keyword === 'additionalProperties') {
    const key = [...path, String((e.params as { additionalProperty: string }).additionalProperty)].join('.');
    return `${key}: unknown key`;
  }
  const key = path.join('.') || '(root)';
  if (e.keyword === 'enum') {
    return `${key}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
  }
  return `${key}: ${e.message ?? 'is invalid'}`;
}

export interface LoadOptions {
  /** Site config file (YAML or JSON), merged over the defaults. */
  file?: string | undefined;
  /** Environment to read SAFESPHERE_* overrides from. */
  env?: NodeJS.ProcessEnv;
  /** Values applied last, for tests and embedding. */
  overrides?: Record<string, unknown>;
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b)
        ? deepMerge(b as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
const validateConfig = ajv.compile<GatewayConfig>(ConfigSchema);

/**
 * Builds the effective configuration: schema defaults, then the site file, then
 * SAFESPHERE_* environment variables, then explicit overrides. Throws a ConfigError
 * listing every problem found.
 */
export function loadConfig(options: LoadOptions = {}): GatewayConfig {
  const problems: string[] = [];
  let merged: Record<string, unknown> = {};

  if (options.file) {
    try {
      const parsed = parseYaml(readFileSync(options.file, 'utf8')) as unknown;
      if (parsed === null || parsed === undefined) merged = {};
      else if (typeof parsed !== 'object' || Array.isArray(parsed)) problems.push(`${options.file}: must be a mapping of keys`);
      else merged = parsed as Record<string, unknown>;
    } catch (err) {
      problems.push(`${options.file}: ${(err as Error).message.split('\n')[0]}`);
    }
  }

  const env = options.env ?? {};
  const leaves = new Map(configLeaves().map((leaf) => [envName(leaf.path), leaf]));
  const fromEnv: EnvSources = new Map();
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || RESERVED_ENV.has(name) || raw === undefined) continue;
    const leaf = leaves.get(name);
    if (!leaf) {
      problems.push(`${name}: unknown environment override (no such config key)`);
      continue;
    }
    try {
      setPath(merged, leaf.path, coerceEnv(raw, leaf.schema));
      fromEnv.set(leaf.path.join('.'), envNote(name, raw));
    } catch (err) {
      problems.push(`${leaf.path.join('.')} (from ${name}): ${(err as Error).message}`);
    }
  }

  if (options.overrides) merged = deepMerge(merged, options.overrides);

  const candidate = structuredClone(merged);
  if (!validateConfig(candidate)) {
    for (const e of validateConfig.errors ?? []) problems.push(formatAjvError(e, fromEnv));
  } else {
    // What the schema cannot express (time zones, overlapping slots, a mode keeping an unplanned action).
    problems.push(...armingProblems(candidate as GatewayConfig));
  }
  // Cross-references (contact ids named by escalation steps), also when other keys are bad, so
  // one run names every problem; a block too malformed to walk was named by the schema already.
  try {
    problems.push(...contactProblems(candidate as GatewayConfig));
    problems.push(...arcProblems(candidate as GatewayConfig));
  } catch {
    /* reported above */
  }
  if (problems.length > 0) throw new ConfigError([...new Set(problems)]);
  return candidate as GatewayConfig;
}
