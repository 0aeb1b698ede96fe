// Checks of the arc block that the schema cannot express: with a primary receiver set, the
// account must be what DC-09 receivers take (3 to 16 hex digits) and an inline key must fit
// AES-128/192/256. A key read from arc.key_file is checked the same way at start (src/arc/).
// Each problem names its key, as the schema's own errors do (exit 78 lists them all).
import type { GatewayConfig } from './schema.js';

/** Why an AES key is unusable, or null. */
export function arcKeyProblem(key: string, format: 'hex' | 'ascii'): string | null {
  if (format === 'hex') {
    if (!/^[0-9A-Fa-f]*$/.test(key)) return 'is not hex (key_format is hex)';
    if (![32, 48, 64].includes(key.length)) return `is ${key.length} hex digits; AES-128/192/256 take 32, 48 or 64`;
    return null;
  }
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes !== key.length) return 'has non-ASCII characters (key_format is ascii)';
  if (![16, 24, 32].includes(bytes)) return `is ${bytes} characters; AES-128/192/256 take 16, 24 or 32`;
  return null;
}

export function arcProblems(config: GatewayConfig): string[] {
  const arc = config.arc;
  if (!arc?.primary.host) return [];
  const problems: string[] = [];
  if (!/^[0-9A-Fa-f]{3,16}$/.test(arc.account)) {
    problems.push(`arc.account: "${arc.account}" is not an account number (3 to 16 hex digits, 0-9 and A-F)`);
  }
  if (arc.key) {
    const p = arcKeyProblem(arc.key, arc.key_format);
    if (p) problems.push(`arc.key: ${p}`);
  }
  if (arc.key && arc.key_file) problems.push('arc.key_file: set arc.key or arc.key_file, not both');
  if (arc.backup.host && arc.backup.host === arc.primary.host && arc.backup.port === arc.primary.port) {
    problems.push('arc.backup.host: the backup path is the primary receiver; a second path must be a different receiver');
  }
  const unknown = arc.action_types.filter((t) => !config.notify.action_types.includes(t));
  if (unknown.length) problems.push(`arc.action_types: ${unknown.join(', ')} not in notify.action_types (the ledger carries only those)`);
  return problems;
}
