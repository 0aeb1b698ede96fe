import type { FastifyPluginAsync } from 'fastify';
import { reportSchema } from '../validate/report.js';
import type { GatewayConfig } from '../config/schema.js';
import type { ReportValidator } from '../validate/report.js';
import type { IngestOutcome, IngestPipeline } from './ingest.js';

/** The seed's POST /threats/report response, plus the gateway's own fields. */
export function reportResponse(outcome: IngestOutcome) {
  const { incident, actions } = outcome;
  const duplicate = outcome.kind === 'duplicate';
  return {
    success: true,
    incident_id: incident.incident_id,
    message: duplicate
      ? `Threat incident ${incident.incident_id} was already logged; nothing new was stored`
      : `Threat incident ${incident.threat_level} logged and ${actions.length} action(s) dispatched`,
    action_taken: incident.action_taken,
    threat_level: incident.threat_level,
    threat_score: incident.threat_score,
    reported_level: incident.reported_level,
    reported_score: incident.reported_score,
    seq: incident.seq,
    duplicate,
    actions: actions.map((a) => ({ id: a.id, action_type: a.action_type, description: a.description, status: a.status })),
    ...(duplicate ? { incident: { ...incident, actions } } : {}),
  };
}

export const reportRoutes =
  (deps: { report: GatewayConfig['report']; validator: ReportValidator; pipeline: IngestPipeline }): FastifyPluginAsync =>
  async (app) => {
    app.post(
      '/threats/report',
      {
        config: { role: 'camera' },
        schema: {
          summary: 'Report a threat incident (threat_cv JSON)',
          description:
            'Validates, re-scores and durably stores the report, then plans its actions. Answers only after the commit. ' +
            'A repeated incident_id with the same content answers 200 with "duplicate": true; with other content, 409.',
          body: reportSchema(deps.report),
        },
        // One validator for MQTT and HTTP: the handler runs it, the schema above is for the docs.
        validatorCompiler: () => () => true,
      },
      async (request) => {
        const valid = deps.validator.validate(request.body, 'http', null);
        return reportResponse(await deps.pipeline.submit(valid));
      },
    );
  };
