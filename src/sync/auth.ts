// Who may use the sync endpoints. Routes declare a role (`config: { role: 'sync' }`) and
// ask an Authorizer; today the only one is a single configured sync token. The security
// work (roles, hashed tokens) replaces it by implementing the same interface.
import { createHash, timingSafeEqual } from 'node:crypto';
import { ERRORS, GatewayError } from '../errors.js';

import type { Role } from '../security/roles.js';

export type { Role };

/** The gateway's role-based access control (src/security/access.ts), which takes over when attached. */
export interface RoleAuthority {
  addToken(token: string, name: string, role: Role, source: string): void;
  hasRoleToken(role: Role): boolean;
  authorizeHeader(authorization: string | undefined, role: Role): void;
}

export interface Authorizer {
  /** Throws a GatewayError (401, 403 or 503) unless the Authorization header grants `role`. */
  authorize(authorization: string | undefined, role: Role): void;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export class SyncTokenAuthorizer implements Authorizer {
  private tokenDigest: Buffer | null = null;
  private authority: RoleAuthority | null = null;

  /** Hands token checks to the role-based access control: sync.token becomes one sync-role token among others. */
  delegateTo(authority: RoleAuthority): void {
    this.authority = authority;
  }

  /** Called at start with the token from sync.token or sync.token_file ('' leaves the API off). */
  setToken(token: string): void {
    this.tokenDigest = token ? digest(token) : null;
    if (token && this.authority) this.authority.addToken(token, 'sync.token', 'sync', 'sync.token');
  }

  /** The pull API is on while any token has the sync role. */
  get enabled(): boolean {
    return this.authority ? this.authority.hasRoleToken('sync') : this.tokenDigest !== null;
  }

  authorize(authorization: string | undefined, role: Role): void {
    if (this.authority) {
      if (role === 'sync' && !this.enabled) throw new GatewayError(ERRORS.SYNC_DISABLED);
      this.authority.authorizeHeader(authorization, role);
      return;
    }
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
