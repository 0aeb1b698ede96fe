import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { LEVELS, type ThreatLevel } from '../config/schema.js';
import { ERRORS, GatewayError } from '../errors.js';
import type { Store } from '../store/store.js';
import { parseSourceFilter } from '../validate/source-filter.js';
import type { IncidentDetails } from './details.js';

const MAX_LIMIT = 1000;

const ListQuery = Type.Object({
  threat_level: Type.Optional(Type.String({ description: 'LOW, MEDIUM, HIGH or CRITICAL' })),
  camera_id: Type.Optional(Type.String({ maxLength: 64 })),
  since: Type.Optional(Type.String({ description: 'ISO 8601; incidents received at or after' })),
  until: Type.Optional(Type.String({ description: 'ISO 8601; incidents received at or before' })),
  source: Type.Optional(Type.String({ description: 'threat_cv (mqtt or http), mqtt, http, frigate or onvif' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LIMIT, default: 50 })),
});

interface ListQuery {
  threat_level?: string;
  camera_id?: string;
  since?: string;
  until?: string;
  source?: string;
  limit?: number;
}

function parseLevel(raw: string | undefined): ThreatLevel | undefined {
  if (raw === undefined) return undefined;
  const level = raw.toUpperCase();
  if (!(LEVELS as readonly string[]).includes(level)) {
    throw new GatewayError(ERRORS.BAD_REQUEST, [{ path: 'threat_level', message: `must be one of ${LEVELS.join(', ')}` }]);
  }
  return level as ThreatLevel;
}

function parseInstant(raw: string | undefined, name: string): string | undefined {
  if (raw === undefined) return undefined;
  const ms = Date.parse(raw);
  if (Number.isNaN(ms)) throw new GatewayError(ERRORS.BAD_REQUEST, [{ path: name, message: 'must be an ISO 8601 date-time' }]);
  return new Date(ms).toISOString();
}

export const incidentRoutes =
  (store: Store, view: IncidentDetails, paths: readonly string[]): FastifyPluginAsync =>
  async (app) => {

    app.get<{ Querystring: ListQuery }>(
      '/incidents',
      { config: { role: 'operator' }, schema: { summary: 'List incidents, newest first', querystring: ListQuery } },
      async (request) => {
        const q = request.query;
        const incidents = store.listIncidents({
          threat_level: parseLevel(q.threat_level),
          camera_id: q.camera_id,
          since: parseInstant(q.since, 'since'),
          until: parseInstant(q.until, 'until'),
          source: parseSourceFilter(q.source),
          limit: q.limit ?? 50,
        });
        return { count: incidents.length, incidents };
      },
    );

    app.get<{ Params: { level: string }; Querystring: { limit?: number } }>(
      '/incidents/threat_level/:level',
      {
        config: { role: 'operator' },
        schema: {
          summary: 'Incidents of one threat level, newest first',
          params: Type.Object({ level: Type.String() }),
          querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LIMIT, default: 100 })) }),
        },
      },
      async (request) => {
        const level = parseLevel(request.params.level)!;
        const incidents = store.listIncidents({ threat_level: level, limit: request.query.limit ?? 100 });
        return { threat_level: level, count: incidents.length, incidents };
      },
    );

    // One view of an incident for the API and the dashboard: the same body on both paths.
    for (const path of paths) {
      app.get<{ Params: { incident_id: string } }>(
        path,
        {
          config: { role: 'operator' },
          schema: {
            summary: 'One incident: its actions, alerts, labels, operator status, zone, snapshot, detections and AI annotations',
            params: Type.Object({ incident_id: Type.String({ maxLength: 128 }) }),
          },
        },
        async (request) => {
          const incident = store.getIncident(request.params.incident_id);
          if (!incident) {
            throw new GatewayError(ERRORS.INCIDENT_NOT_FOUND, [
              { path: 'incident_id', message: `no incident "${request.params.incident_id}"` },
            ]);
          }
          return view.build(incident);
        },
      );
    }

    app.get<{ Querystring: { source?: string } }>(
      '/statistics',
      {
        config: { role: 'operator' },
        schema: {
          summary: 'Threat statistics: totals, per camera, per source, last 24 h',
          querystring: Type.Object({ source: Type.Optional(Type.String({ description: 'Count only this source: threat_cv, mqtt, http, frigate or onvif' })) }),
        },
      },
      async (request) => {
        const source = parseSourceFilter(request.query.source);
        const { per_camera, per_source, last_24h, ...totals } = store.incidents.statistics(Date.now(), source);
        return {
          timestamp: new Date().toISOString(),
          ...(source ? { source_filter: source } : {}),
          statistics: { ...totals, per_camera, per_source, last_24h },
        };
      },
    );
  };
