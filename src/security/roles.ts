// Roles, bearer tokens and their hashes. Tokens are 256-bit random strings, so a SHA-256
// of each is what the config stores: unlike a password it cannot be guessed from its hash.
import { createHash, randomBytes } from 'node:crypto';

import { ROLES, type Role } from '../config/schema.js';

export { ROLES, type Role };
/** What a route declares: a role, or `public` (open to everyone, e.g. /health). */
export type RouteRole = Role | 'public';
export const ROUTE_ROLES: readonly RouteRole[] = [...ROLES, 'public'];

export const isRole = (value: unknown): value is Role => typeof value === 'string' && (ROLES as readonly string[]).includes(value);

/**
 * admin grants every role; operator also grants signage (a display reads the routes an operator
 * can); any other role grants only itself.
 */
export const grants = (held: Role, required: Role): boolean =>
  held === 'admin' || held === required || (required === 'signage' && held === 'operator');

/** A new token: `sse_<role>_` and 43 base64url characters of randomness (256 bits). */
export function generateToken(role: Role): string {
  return `sse_${role}_${randomBytes(32).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** The token of an `Authorization: Bearer <token>` header; null when absent, undefined when malformed. */
export function bearerToken(authorization: string | undefined): string | null | undefined {
  if (authorization === undefined || authorization === '') return null;
  const match = /^Bearer[ \t]+([\x21-\x7e]{1,512})[ \t]*$/i.exec(authorization);
  return match ? match[1]! : undefined;
}
