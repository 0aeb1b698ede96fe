// The arming API: read and set the mode (operator role, so the dashboard's token works; the
// bearer token stands in for a PIN), the audit log, and the site events for a cloud's pull.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { ARMING_MODES } from '../config/schema.js';
import { ERRORS, GatewayError, type ErrorDetail } from '../errors.js';
import type { Store } from '../store/store.js';
import type { ArmingService } from './service.js';

const noValidate = { validatorCompiler: () => () => true };

/** Who made a request: the token's name, else how it was trusted. */
function caller(request: FastifyRequest): string {
  const p = request.principal;
  if (!p) return 'unknown';
  if (p.kind === 'token') return p.name;
  if (p.kind === 'trusted') return p.via;
  return 'anonymous';
}

function page(query: { after?: string; limit?: string }): { after: number; limit: number } {
  const details: ErrorDetail[] = [];
  const after = query.after === undefined || query.after === '' ? 0 : Number(query.after);
  const limit = query.limit === undefined || query.limit === '' ? 100 : Number(query.limit);
  if (!Number.isInteger(after) || after < 0) details.push({ path: 'after', message: 'must be a non-negative integer' });
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) details.push({ path: 'limit', message: 'must be an integer from 1 to 1000' });
  if (details.length) throw new GatewayError(ERRORS.BAD_REQUEST, details);
  return { after, limit };
}

export const armingRoutes =
  (arming: ArmingService, store: Store): FastifyPluginAsync =>
  async (app) => {
    app.get('/arming', { config: { role: 'operator' }, schema: { summary: 'The arming mode, who set it, the schedule and the PIN lockout' } }, async () =>
      arming.status(),
    );

    app.put(
      '/arming',
      {
        config: { role: 'operator' },
        ...noValidate,
        schema: {
          summary: 'Set the arming mode',
          description:
            `Body: {"mode": one of ${ARMING_MODES.join(', ')}, "by": "<optional operator name>", "via": "dashboard" (optional), "reason": "<optional>"}. ` +
            'Under a schedule the change holds until its next boundary. 422 INVALID_ARMING naming each bad field.',
          body: Type.Object({
            mode: Type.String({ enum: [...ARMING_MODES] }),
            by: Type.Optional(Type.String({ maxLength: 128 })),
            via: Type.Optional(Type.String({ enum: ['http', 'dashboard'] })),
            reason: Type.Optional(Type.String({ maxLength: 512 })),
          }),
        },
      },
      async (request) => {
        const b = (request.body && typeof request.body === 'object' && !Array.isArray(request.body) ? request.body : null) as Record<string, unknown> | null;
        const details: ErrorDetail[] = [];
        if (!b) details.push({ path: '(body)', message: 'must be a JSON object' });
        else {
          if (!(ARMING_MODES as readonly unknown[]).includes(b.mode)) details.push({ path: 'mode', message: `must be one of ${ARMING_MODES.join(', ')}` });
          if (b.by !== undefined && (typeof b.by !== 'string' || !b.by.trim() || b.by.length > 128)) details.push({ path: 'by', message: 'must be 1..128 characters' });
          if (b.via !== undefined && b.via !== 'http' && b.via !== 'dashboard') details.push({ path: 'via', message: 'must be http or dashboard' });
          if (b.reason !== undefined && (typeof b.reason !== 'string' || b.reason.length > 512)) details.push({ path: 'reason', message: 'must be a string of at most 512 characters' });
          for (const k of Object.keys(b)) if (!['mode', 'by', 'via', 'reason'].includes(k)) details.push({ path: k, message: 'is not a field of an arming change' });
        }
        if (details.length) throw new GatewayError(ERRORS.INVALID_ARMING, details);
        const who = caller(request);
        const by = typeof b!.by === 'string' ? `${b!.by.trim()} (${who})` : who;
        const change = await arming.set(b!.mode, {
          by,
          via: b!.via === 'dashboard' ? 'dashboard' : 'http',
          ...(typeof b!.reason === 'string' ? { reason: b!.reason } : {}),
        });
        return { success: true, changed: change !== null, change, arming: arming.status() };
      },
    );

    app.get<{ Querystring: { after?: string; limit?: string } }>(
      '/arming/changes',
      {
        config: { role: 'operator' },
        ...noValidate,
        schema: {
          summary: 'The arming audit log: every change of mode (who, through what, when), oldest first',
          querystring: Type.Object({ after: Type.Optional(Type.String()), limit: Type.Optional(Type.String()) }),
        },
      },
      async (request) => {
        const { after, limit } = page(request.query);
        const changes = arming.changes(after, limit);
        return { changes, next_after: changes.length ? changes[changes.length - 1]!.seq : after };
      },
    );

    app.get<{ Querystring: { after?: string; limit?: string } }>(
      '/sync/site-events',
      {
        config: { role: 'sync' },
        ...noValidate,
        schema: {
          summary: 'Site events (arming changes) after a cursor, for a cloud job that pulls; the push transports send them by themselves',
          querystring: Type.Object({ after: Type.Optional(Type.String()), limit: Type.Optional(Type.String()) }),
        },
      },
      async (request) => {
        const { after, limit } = page(request.query);
        const events = store.arming.siteEvents(after, limit);
        return { events, next_after: events.length ? events[events.length - 1]!.seq : after };
      },
    );
  };
