// Who may use the sync endpoints. Routes declare a role (`config: { role: 'sync' }`) and
// ask an Authorizer; today the only one is a single configured sync token. The security
// work (roles, hashed tokens) replaces it by implementing the same interface.
import { createHash, timingSafeEqual } from 'node:crypto';
import { ERRORS, GatewayError } from '../errors.js';

export type Role = 'camera' | 'operator' | 'sync' | 'admin';

export interface Authorizer {
  /** Throws a GatewayError (401, 403 or 503) unless the Authorization header grants `role`. */
  authorize(authorization: string | undefined, role: Role): void;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export class SyncTokenAuthorizer implements Authorizer {
  private tokenDigest: Buffer | null = null;

  /** Called at start with the token from sync.token or sync.token_file ('' leaves the API off). */
  setToken(token: string): void {
    this.tokenDigest = token ? digest(token) : null;
  }

  get enabled(): boolean {
    return this.tokenDigest !== null;
  }

  authorize(authorization: string | undefined, role: Role): void {
    if (role !== 'sync') throw new GatewayError(ERRORS.FORBIDDEN, [{ path: 'authorization', message: `role ${role} is not available` }]);
    if (!this.tokenDigest) throw new GatewayError(ERRORS.SYNC_DISABLED);
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match) {
      throw new GatewayError(ERRORS.UNAUTHORIZED, [{ path: 'authorization', message: 'send "Authorization: Bearer <sync token>"' }]);
    }
    if (!timingSafeEqual(digest(match[1]!), this.tokenDigest)) {
      throw new GatewayError(ERRORS.UNAUTHORIZED, [{ path: 'authorization', message: 'the token is not valid for the sync role' }]);
    }
  }
}
