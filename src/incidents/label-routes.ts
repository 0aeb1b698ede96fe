// POST /incidents/{incident_id}/label: an operator confirms an incident or marks it a
// false alarm. Feeds the re-scorer's per-camera false-alarm rates at once, and the next
// `npm run train`.
import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { ERRORS, GatewayError, type ErrorDetail } from '../errors.js';
import { LABELS, type LabelRepository, type LabelValue } from '../store/labels.js';

const MAX_BY = 128;
const MAX_NOTE = 2048;

function parseLabelBody(body: unknown): { label: LabelValue; by: string; note: string | null } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new GatewayError(ERRORS.INVALID_LABEL, [{ path: '(body)', message: 'must be a JSON object {label, by, note}' }]);
  }
  const b = body as Record<string, unknown>;
  const details: ErrorDetail[] = [];
  if (b.label === undefined) details.push({ path: 'label', message: 'is required' });
  else if (!(LABELS as readonly unknown[]).includes(b.label)) details.push({ path: 'label', message: `must be one of ${LABELS.join(', ')}` });
  if (b.by === undefined) details.push({ path: 'by', message: 'is required' });
  else if (typeof b.by !== 'string' || b.by.trim().length === 0 || b.by.length > MAX_BY) {
    details.push({ path: 'by', message: `must be a non-empty string of at most ${MAX_BY} characters` });
  }
  if (b.note !== undefined && b.note !== null && (typeof b.note !== 'string' || b.note.length > MAX_NOTE)) {
    details.push({ path: 'note', message: `must be a string of at most ${MAX_NOTE} characters` });
  }
  for (const key of Object.keys(b)) {
    if (!['label', 'by', 'note'].includes(key)) details.push({ path: key, message: 'is not a label field' });
  }
  if (details.length) throw new GatewayError(ERRORS.INVALID_LABEL, details);
  return { label: b.label as LabelValue, by: (b.by as string).trim(), note: (b.note as string | null | undefined) ?? null };
}

export const labelRoutes =
  (labels: LabelRepository): FastifyPluginAsync =>
  async (app) => {
    app.post<{ Params: { incident_id: string } }>(
      '/incidents/:incident_id/label',
      {
        config: { role: 'operator' },
        schema: {
          summary: 'Label an incident: confirmed or false_alarm',
          description:
            'Body: {"label": "confirmed" | "false_alarm", "by": "<operator>", "note": "<optional>"}. ' +
            'The latest label of an incident counts; every label is kept. 404 for an unknown incident, 422 for a bad body.',
          params: Type.Object({ incident_id: Type.String({ maxLength: 128 }) }),
        },
      },
      async (request, reply) => {
        const input = parseLabelBody(request.body);
        const row = labels.add({ incidentId: request.params.incident_id, ...input });
        if (!row) {
          throw new GatewayError(ERRORS.INCIDENT_NOT_FOUND, [
            { path: 'incident_id', message: `no incident "${request.params.incident_id}"` },
          ]);
        }
        void reply.status(201);
        return { success: true, label: row };
      },
    );
  };
