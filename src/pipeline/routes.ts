import type { FastifyPluginAsync } from 'fastify';
import { reportSchema } from '../validate/report.js';
import type { GatewayConfig } from '../config/schema.js';
import type { AccessControl } from '../security/access.js';
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
    model_level: incident.model_level,
    model_probability: incident.model_probability,
    seq: incident.seq,
    duplicate,
    actions: actions.map((a) => ({ id: a.id, action_type: a.action_type, description: a.description, status: a.status })),
    ...(duplicate ? { incident: { ...incident, actions } } : {}),
  };
}

export const reportRoutes =
  (deps: { report: GatewayConfig['report']; validator: ReportValidator; pipeline: IngestPipeline; access: AccessControl }): FastifyPluginAsync =>
  async (app) => {
    app.post(
      '/threats/report',
      {
        config: { role: 'camera' },
        schema: {
          summary: 'Report a threat incident (threat_cv JSON)',
          description:
            'Validates, re-scores and durably stores the report, then plans its actions. Answers only after the commit. ' +
            'A repeated incident_id with the same content answers 200 with "duplicate": true; with other content, 409. ' +
            'A camera credential reports only as its own camera(s): another camera_id gets 403 CAMERA_NOT_ALLOWED, and a report ' +
            'without a camera_id gets the credential\'s camera.',
          body: reportSchema(deps.report),
        },
        // One validator for MQTT and HTTP: the handler runs it, the schema above is for the docs.
        validatorCompiler: () => () => true,
      },
      async (request) => {
        // Before validation: a spoofed camera is refused as such (403), whatever else is wrong.
        const body = request.body as { camera_id?: unknown } | null;
        const camera = deps.access.reportingCamera(request.principal, body && typeof body === 'object' ? body.camera_id : undefined);
        const valid = deps.validator.validate(request.body, 'http', null, { defaultCameraId: camera });
        return reportResponse(await deps.pipeline.submit(valid));
      },
    );
  };
