// Renders config/default.yaml from the schema, so the documented defaults can never drift
// from the ones the gateway applies. `npm run config:docs` rewrites the file; a test compares.
import { stringify } from 'yaml';
import type { TSchema } from '@sinclair/typebox';
import { ConfigSchema } from './schema.js';
import { envName } from './load.js';

function constraints(schema: TSchema): string {
  const parts: string[] = [];
  if (schema.minimum !== undefined) parts.push(`min ${schema.minimum}`);
  if (schema.maximum !== undefined) parts.push(`max ${schema.maximum}`);
  if (schema.pattern !== undefined) parts.push(`pattern ${schema.pattern}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

function render(schema: TSchema, path: string[], indent: string, out: string[]): void {
  for (const [key, child] of Object.entries(schema.properties as Record<string, TSchema>)) {
    const childPath = [...path, key];
    const description = typeof child.description === 'string' ? child.description : '';
    if (child.type === 'object' && child.properties) {
      if (path.length === 0) out.push('');
      if (description) out.push(`${indent}# ${description}`);
      out.push(`${indent}${key}:`);
      render(child, childPath, `${indent}  `, out);
      continue;
    }
    out.push(`${indent}# ${description}${constraints(child)} Env: ${envName(childPath)}`);
    const value = stringify({ [key]: child.default }, { lineWidth: 0 }).trimEnd();
    for (const line of value.split('\n')) out.push(`${indent}${line}`);
  }
}

export function renderDefaultConfig(): string {
  const out = [
    '# SafeSphere Edge configuration: every key, with its default.',
    '# Generated from src/config/schema.ts by `npm run config:docs`; do not edit by hand.',
    '# A site file (safesphere-edge --config site.yaml) only needs the keys it changes.',
    '# Any key can also be set from the environment: SAFESPHERE_<SECTION>_<KEY>, arrays and objects as JSON.',
  ];
  render(ConfigSchema, [], '', out);
  return `${out.join('\n')}\n`;
}
