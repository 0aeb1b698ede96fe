// HTTP and WebSocket routes of site operations: the dashboard's files at /, the analysis,
// timelapse, routes and site APIs under /api, incident acknowledge/resolve and the live feeds
// under /ws. Each route declares its role (`config.role`); the access hook of
// src/security/ enforces it (browsers' WebSockets pass the token as ?access_token=).
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { Type } from '@sinclair/typebox';
import { ERRORS, GatewayError, type ErrorDetail } from '../errors.js';
import { parseFilter } from './feed.js';
import type { Operations } from './service.js';
import { parseSourceFilter } from '../validate/source-filter.js';

/** The dashboard's files, served from the source tree (the build is plain tsc; nothing to copy). */
export const WEB_DIR = fileURLToPath(new URL('../../web/dashboard/', import.meta.url));
const require = createRequire(import.meta.url);
const VENDOR: Record<string, string> = {
  'uPlot.iife.min.js': require.resolve('uplot/dist/uPlot.iife.min.js'),
  'uPlot.min.css': require.resolve('uplot/dist/uPlot.min.css'),
};
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};
const MAX_RANGE_DAYS = 366;
const MAX_BUCKETS = 10_000;

function instant(raw: unknown, name: string, fallback: number): string {
  if (raw === undefined || raw === '') return new Date(fallback).toISOString();
  const ms = typeof raw === 'string' ? Date.parse(raw) : NaN;
  if (Number.isNaN(ms)) throw new GatewayError(ERRORS.BAD_REQUEST, [{ path: name, message: 'must be an ISO 8601 date-time' }]);
  return new Date(ms).toISOString();
}

/** from/to of a query: default the last 24 h; at most MAX_RANGE_DAYS. */
function range(q: { from?: unknown; to?: unknown }): { from: string; to: string } {
  const to = instant(q.to, 'to', Date.now());
  const from = instant(q.from, 'from', Date.parse(to) - 86_400_000);
  const span = Date.parse(to) - Date.parse(from);
  if (span <= 0) throw new GatewayError(ERRORS.BAD_REQUEST, [{ path: 'from', message: 'must be before to' }]);
  if (span > MAX_RANGE_DAYS * 86_400_000) throw new GatewayError(ERRORS.BAD_REQUEST, [{ path: 'from', message: `the range is at most ${MAX_RANGE_DAYS} days` }]);
  return { from, to };
}

/** A bucket: seconds ("900"), or a number with s, m, h or d ("15m", "1h"). */
export function parseBucket(raw: unknown): number {
  if (raw === undefined || raw === '') return 3600;
  const m = typeof raw === 'string' ? /^(\d{1,9})([smhd]?)$/.exec(raw.trim()) : null;
  if (!m) throw new GatewayError(ERRORS.BAD_REQUEST, [{ path: 'bucket', message: 'must be seconds, or a number with s, m, h or d (e.g. 15m)' }]);
  const s = Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  if (s < 1) throw new GatewayError(ERRORS.BAD_REQUEST, [{ path: 'bucket', message: 'must be at least 1 second' }]);
  return s;
}

/** How an operator's status change came in: the dashboard says so; anything else is the API. */
const OPERATOR_VIA = new Set(['api', 'dashboard']);

function operatorBody(body: unknown): { by: string; note: string | null; via: string } {
  const details: ErrorDetail[] = [];
  const b = (body && typeof body === 'object' && !Array.isArray(body) ? body : {}) as Record<string, unknown>;
  if (typeof b.by !== 'string' || !b.by.trim() || b.by.length > 128) details.push({ path: 'by', message: 'is required: the operator, 1..128 characters' });
  if (b.note !== undefined && b.note !== null && (typeof b.note !== 'string' || b.note.length > 2048)) {
    details.push({ path: 'note', message: 'must be a string of at most 2048 characters' });
  }
  if (b.via !== undefined && !OPERATOR_VIA.has(b.via as string)) details.push({ path: 'via', message: 'must be "api" or "dashboard"' });
  for (const k of Object.keys(b)) if (k !== 'by' && k !== 'note' && k !== 'via') details.push({ path: k, message: 'is not a field of a status change' });
  if (details.length) throw new GatewayError(ERRORS.INVALID_STATUS, details);
  return { by: (b.by as string).trim(), note: (b.note as string | null | undefined) ?? null, via: (b.via as string | undefined) ?? 'api' };
}

export const operationsRoutes =
  (ops: Operations): FastifyPluginAsync =>
  async (app) => {
    const noValidate = { validatorCompiler: () => () => true };

    // ------------------------------------------------------------- the dashboard's files
    if (ops.config.dashboard.enabled) {
      const sendFile = async (reply: FastifyReply, file: string) => {
        const body = await readFile(file).catch(() => null);
        if (!body) throw new GatewayError(ERRORS.NOT_FOUND, [{ path: 'file', message: 'no such dashboard file' }]);
        return reply
          .type(TYPES[extname(file)] ?? 'application/octet-stream')
          .header('cache-control', 'no-cache')
          .header('x-content-type-options', 'nosniff')
          .send(body);
      };
      app.get('/', { config: { role: 'public' }, schema: { hide: true } }, async (_request, reply) => sendFile(reply, join(WEB_DIR, 'index.html')));
      app.get<{ Params: { file: string } }>('/dashboard/vendor/:file', { config: { role: 'public' }, schema: { hide: true } }, async (request, reply) => {
        const file = VENDOR[request.params.file];
        if (!file) throw new GatewayError(ERRORS.NOT_FOUND);
        return sendFile(reply, file);
      });
      app.get<{ Params: { file: string } }>('/dashboard/:file', { config: { role: 'public' }, schema: { hide: true } }, async (request, reply) => {
        const name = normalize(request.params.file);
        if (!/^[a-z0-9-]+\.(js|css|html|svg|png)$/.test(name)) throw new GatewayError(ERRORS.NOT_FOUND);
        return sendFile(reply, join(WEB_DIR, name));
      });

      // ------------------------------------------------------------- API
      app.post('/api/login', { config: { role: 'operator' }, schema: { summary: 'Check an operator token (Bearer)' } }, async () => ({
        ok: true,
        role: 'operator',
        site_id: ops.config.site_id,
      }));

      app.get<{ Querystring: { from?: string; to?: string; utc_offset_min?: string; source?: string } }>(
        '/api/analysis',
        {
          config: { role: 'operator' },
         
          ...noValidate,
          schema: {
            summary: 'Risk per camera and zone, hour-of-day profile, trend vs the previous period, false-alarm rate, behaviours, weapon families',
            querystring: Type.Object({
              from: Type.Optional(Type.String({ description: 'ISO 8601 (default: to - 24 h), on receipt time' })),
              to: Type.Optional(Type.String({ description: 'ISO 8601 (default: now), exclusive' })),
              utc_offset_min: Type.Optional(Type.String({ description: 'Shifts the hour-of-day profile to local time (minutes east of UTC)' })),
              source: Type.Optional(Type.String({ description: 'Only incidents of this source: threat_cv, mqtt, http, frigate or onvif' })),
            }),
          },
        },
        async (request) => {
          const { from, to } = range(request.query);
          const raw = request.query.utc_offset_min;
          const offset = raw === undefined || raw === '' ? 0 : Number(raw);
          if (!Number.isInteger(offset) || Math.abs(offset) > 14 * 60) {
            throw new GatewayError(ERRORS.BAD_REQUEST, [{ path: 'utc_offset_min', message: 'must be an integer between -840 and 840' }]);
          }
          return ops.queries.analysis(from, to, offset, parseSourceFilter(request.query.source));
        },
      );

      app.get<{ Querystring: { from?: string; to?: string; bucket?: string; source?: string } }>(
        '/api/timelapse',
        {
          config: { role: 'operator' },
         
          ...noValidate,
          schema: {
            summary: 'Incident counts per time bucket, by level and camera',
            querystring: Type.Object({
              from: Type.Optional(Type.String()),
              to: Type.Optional(Type.String()),
              bucket: Type.Optional(Type.String({ description: 'seconds, or 30s / 15m / 1h / 1d (default 1h)' })),
              source: Type.Optional(Type.String({ description: 'Only incidents of this source: threat_cv, mqtt, http, frigate or onvif' })),
            }),
          },
        },
        async (request) => {
          const { from, to } = range(request.query);
          const bucket = parseBucket(request.query.bucket);
          const n = Math.ceil((Date.parse(to) - Date.parse(from)) / 1000 / bucket);
          if (n > MAX_BUCKETS) throw new GatewayError(ERRORS.BAD_REQUEST, [{ path: 'bucket', message: `gives ${n} buckets; at most ${MAX_BUCKETS}` }]);
          return ops.queries.timelapse(from, to, bucket, parseSourceFilter(request.query.source));
        },
      );

      app.get<{ Querystring: { from?: string } }>(
        '/api/routes',
        {
          // Displays (signage) read routes too; operator and admin tokens grant it.
          config: { role: 'signage' },
         
          ...noValidate,
          schema: {
            summary: 'Safe route from a zone to an exit, avoiding zones with an active HIGH/CRITICAL incident (409 when none exists)',
            querystring: Type.Object({ from: Type.String({ description: 'zone id' }) }),
          },
        },
        async (request, reply) => {
          const answer = ops.routeAnswer(request.query.from);
          void reply.status(answer.status);
          return answer.body;
        },
      );

      app.get('/api/site', { config: { role: 'operator' }, schema: { summary: 'The site map, with active threats per zone' } }, async () => {
        const { zones, incidents } = ops.threats();
        return {
          site_id: ops.config.site_id,
          zones: ops.config.zones.map((z) => ({
            id: z.id,
            name: z.name ?? z.id,
            x: z.x ?? null,
            y: z.y ?? null,
            cameras: z.cameras,
            risk: z.risk,
            threat: zones.blocked.has(z.id)
              ? (incidents.some((t) => t.zone === z.id && t.threat_level === 'CRITICAL') ? 'CRITICAL' : 'HIGH')
              : zones.elevated.has(z.id)
                ? 'MEDIUM'
                : null,
          })),
          links: ops.siteMap.links,
          exits: ops.config.site.map.exits,
          police_station: ops.config.site.map.police_station,
          active_window_s: ops.config.site.active_window_s,
          active: incidents,
        };
      });

      for (const action of ['acknowledge', 'resolve'] as const) {
        app.post<{ Params: { incident_id: string } }>(
          `/incidents/:incident_id/${action}`,
          {
            config: { role: 'operator' },
           
            schema: {
              summary: action === 'acknowledge' ? 'An operator acknowledges an incident' : 'An operator resolves an incident (it stops being an active threat)',
              description:
                'Body: {"by": "<operator>", "note": "<optional>", "via": "api" | "dashboard"}. Stops the incident\'s escalation (README "Who gets told"). ' +
                '404 for an unknown incident, 422 for a bad body.',
              params: Type.Object({ incident_id: Type.String({ maxLength: 128 }) }),
            },
          },
          async (request) => {
            const { by, note, via } = operatorBody(request.body);
            const id = request.params.incident_id;
            if (!ops.queries.incidentExists(id)) throw new GatewayError(ERRORS.INCIDENT_NOT_FOUND, [{ path: 'incident_id', message: `no incident "${id}"` }]);
            return { success: true, status: ops.setStatus(action, id, by, note, via) };
          },
        );
      }

      // ------------------------------------------------------------- WebSocket feeds
      app.get<{ Querystring: Record<string, string | undefined> }>(
        '/ws/incidents',
        { websocket: true, config: { role: 'operator' }, schema: { hide: true } },
        (socket, request) => {
          const q = request.query;
          let filter;
          try {
            filter = parseFilter(q);
          } catch (err) {
            socket.close(1008, (err as Error).message.slice(0, 120));
            return;
          }
          const after = q.after !== undefined && /^\d{1,15}$/.test(q.after) ? Number(q.after) : null;
          const tail = q.tail !== undefined && /^\d{1,7}$/.test(q.tail) ? Math.min(Number(q.tail), 10_000) : 0;
          ops.feed.attach(socket, { after, tail, filter });
        },
      );

      app.get<{ Querystring: Record<string, string | undefined> }>(
        '/ws/timelapse',
        { websocket: true, config: { role: 'operator' }, schema: { hide: true } },
        (socket, request) => {
          const q = request.query;
          try {
            const { from, to } = range(q);
            const speed = q.speed === undefined ? 60 : Number(q.speed);
            if (!Number.isFinite(speed) || speed <= 0 || speed > 1e7) throw new Error('speed must be a number in (0, 1e7]');
            ops.feed.timelapse(socket, { from, to, speed, filter: parseFilter(q) });
          } catch (err) {
            const message = err instanceof GatewayError ? (err.details[0]?.message ?? err.message) : (err as Error).message;
            socket.close(1008, message.slice(0, 120));
          }
        },
      );
    }
  };
