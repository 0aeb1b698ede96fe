// The sync API: GET /sync/incidents (cursor paging over the outbox), POST /sync/ack,
// GET /sync/status, and the poisoned-entry list. Each route declares the role it needs in
// its route config (`config.role`), enforced by the access hook like every other route's.
import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { ERRORS, GatewayError } from '../errors.js';
import { parseSourceFilter } from '../validate/source-filter.js';
import { MAX_PULL_LIMIT, type SyncService } from './service.js';

// `config.role` is declared (and enforced for every route) in src/security/http.ts.
import '../security/http.js';

/** A non-negative integer in a query string or body, or a BAD_CURSOR naming the field. */
function cursor(raw: unknown, path: string, fallback?: number): number {
  if (raw === undefined && fallback !== undefined) return fallback;
  const text = typeof raw === 'number' ? String(raw) : raw;
  if (typeof text !== 'string' || !/^\d{1,15}$/.test(text)) {
    throw new GatewayError(ERRORS.BAD_CURSOR, [{ path, message: 'must be a non-negative integer seq' }]);
  }
  return Number(text);
}

export const syncRoutes =
  (sync: SyncService): FastifyPluginAsync =>
  async (app) => {

    app.get<{ Querystring: { after?: string; limit?: string; source?: string } }>(
      '/sync/incidents',
      {
        config: { role: 'sync' },
        schema: {
          summary: 'Pull outbox entries after a cursor, each as the full incident (bearer token with the sync role)',
          description:
            'Entries in seq order; each carries sync.idempotency_key (site_id:incident_id:kind:version) for dedupe. ' +
            `limit is 1..${MAX_PULL_LIMIT} (default 100). Use next_after as the next cursor while more is true, then POST /sync/ack. ` +
            'source (threat_cv, mqtt, http, frigate, onvif) returns only the entries of incidents of that source; the others are skipped ' +
            'over, and the ack acknowledges them too.',
          querystring: Type.Object({ after: Type.Optional(Type.String()), limit: Type.Optional(Type.String()), source: Type.Optional(Type.String()) }),
        },
        // Our own parsing gives BAD_CURSOR with the field named.
        validatorCompiler: () => () => true,
      },
      async (request) => {
        const after = cursor(request.query.after, 'after', 0);
        const limit = cursor(request.query.limit, 'limit', 100);
        if (limit < 1 || limit > MAX_PULL_LIMIT) {
          throw new GatewayError(ERRORS.BAD_REQUEST, [{ path: 'limit', message: `must be between 1 and ${MAX_PULL_LIMIT}` }]);
        }
        return sync.pull(after, limit, parseSourceFilter(request.query.source));
      },
    );

    app.post<{ Body: { upto?: unknown } }>(
      '/sync/ack',
      {
        config: { role: 'sync' },
        schema: {
          summary: 'Acknowledge every pulled entry up to a seq (idempotent; refuses a seq ahead of what was served)',
          body: Type.Object({ upto: Type.Integer({ minimum: 0 }) }),
        },
        validatorCompiler: () => () => true,
      },
      async (request) => {
        const body = request.body;
        if (!body || typeof body !== 'object') {
          throw new GatewayError(ERRORS.BAD_REQUEST, [{ path: 'upto', message: 'send {"upto": <seq>}' }]);
        }
        return sync.ack(cursor(body.upto, 'upto'));
      },
    );

    app.get(
      '/sync/status',
      {
        config: { role: 'operator' },
        schema: { summary: 'Per transport: connected, backlog per level, oldest undelivered age, last success/error, poisoned, evictions' },
      },
      async () => sync.status(0),
    );

    app.get<{ Querystring: { transport?: string; limit?: string } }>(
      '/sync/poisoned',
      {
        config: { role: 'operator' },
        schema: {
          summary: 'Entries an upstream refused for good (kept, not retried)',
          querystring: Type.Object({ transport: Type.Optional(Type.String()), limit: Type.Optional(Type.String()) }),
        },
        validatorCompiler: () => () => true,
      },
      async (request) => {
        const name = request.query.transport ?? 'http';
        if (name !== 'http' && name !== 'mqtt') {
          throw new GatewayError(ERRORS.BAD_REQUEST, [{ path: 'transport', message: 'must be http or mqtt' }]);
        }
        const limit = Math.min(1000, cursor(request.query.limit, 'limit', 100));
        return { transport: name, entries: sync.poisoned(name, limit) };
      },
    );

    app.post<{ Body: { transport?: unknown } }>(
      '/sync/poisoned/retry',
      {
        config: { role: 'sync' },
        schema: { summary: 'Queue a transport\'s poisoned entries again, once the upstream was fixed', body: Type.Object({ transport: Type.String() }) },
        validatorCompiler: () => () => true,
      },
      async (request) => {
        const name = request.body?.transport;
        if (name !== 'http' && name !== 'mqtt') {
          throw new GatewayError(ERRORS.BAD_REQUEST, [{ path: 'transport', message: 'must be http or mqtt' }]);
        }
        return { transport: name, requeued: sync.retryPoisoned(name) };
      },
    );
  };
