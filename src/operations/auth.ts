// Who may use the dashboard, its APIs and feeds, and /metrics. Today: one configured operator
// token (or one generated on first start), and an optional separate metrics token. It
// implements the sync Authorizer interface, so the security work (roles, hashed tokens)
// replaces it without touching the routes, which declare their role in `config.role`.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { GatewayConfig } from '../config/schema.js';
import { ERRORS, GatewayError } from '../errors.js';
import { readSecret } from '../security/secrets.js';
import type { Authorizer, Role } from '../sync/auth.js';

const digest = (s: string) => createHash('sha256').update(s).digest();


/** The bearer token of an Authorization header, or of an `access_token` query parameter (browsers' WebSockets and images cannot set headers). */
export function bearer(authorization: string | undefined, query: unknown): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (m) return m[1]!;
  const q = (query as { access_token?: unknown } | undefined)?.access_token;
  return typeof q === 'string' && q.length > 0 ? q : null;
}

export class OperatorAuthorizer implements Authorizer {
  private operator: Buffer | null = null;
  private metrics: Buffer | null = null;
  /** Where a generated token was written (null when configured). */
  generatedFile: string | null = null;

  /** Reads (or on first start generates) the tokens. Called at start: file I/O. */
  load(config: Pick<GatewayConfig, 'dashboard' | 'metrics' | 'data_dir'>): void {
    let op = readSecret(config.dashboard.operator_token, config.dashboard.operator_token_file, 'dashboard.operator_token_file');
    if (!op) {
      const file = join(resolve(config.data_dir), 'operator-token');
      if (existsSync(file)) op = readFileSync(file, 'utf8').trim();
      if (!op) {
        op = randomBytes(24).toString('base64url');
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, `${op}\n`, { mode: 0o600 });
      }
      this.generatedFile = file;
    }
    this.operator = digest(op);
    const m = readSecret(config.metrics.token, config.metrics.token_file, 'metrics.token_file');
    this.metrics = m ? digest(m) : null;
  }

  private matches(token: string | null, expected: Buffer | null): boolean {
    return token !== null && expected !== null && timingSafeEqual(digest(token), expected);
  }

  authorize(authorization: string | undefined, role: Role): void {
    this.check(bearer(authorization, undefined), role);
  }

  /** Throws 401/403 unless `token` grants `role` (operator: the operator token; admin is not yet available). */
  check(token: string | null, role: Role): void {
    if (role !== 'operator') throw new GatewayError(ERRORS.FORBIDDEN, [{ path: 'authorization', message: `role ${role} is not available` }]);
    if (token === null) {
      throw new GatewayError(ERRORS.UNAUTHORIZED, [
        { path: 'authorization', message: 'send "Authorization: Bearer <operator token>" (or ?access_token= on a WebSocket)' },
      ]);
    }
    if (!this.matches(token, this.operator)) {
      throw new GatewayError(ERRORS.UNAUTHORIZED, [{ path: 'authorization', message: 'the token is not valid for the operator role' }]);
    }
  }

  /** /metrics: the metrics token if one is configured, or the operator token. */
  checkMetrics(token: string | null): void {
    if (this.matches(token, this.metrics)) return;
    if (token !== null && this.matches(token, this.operator)) return;
    throw new GatewayError(ERRORS.UNAUTHORIZED, [
      { path: 'authorization', message: 'send "Authorization: Bearer <metrics token or operator token>"' },
    ]);
  }
}
