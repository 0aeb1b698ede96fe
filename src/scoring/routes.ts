// GET /model: the active re-scoring model's manifest, when it was loaded, the last
// refused pair (if any), the safety floor in force and the stage's counters.
// GET /model/evaluation: the model against this site's labels (src/scoring/evaluation.ts).
import type { FastifyPluginAsync } from 'fastify';
import type { RescoreStage } from './rescorer.js';

export const modelRoutes =
  (rescorer: RescoreStage | null): FastifyPluginAsync =>
  async (app) => {
    app.get('/model', { config: { role: 'operator' }, schema: { summary: 'The active re-scoring model: manifest, load time, status' } }, async () => {
      if (!rescorer) return { enabled: false, status: 'up', active: null, reason: 'a custom scorer is in use' };
      return rescorer.info();
    });
    app.get<{ Querystring: { days?: number } }>(
      '/model/evaluation',
      {
        config: { role: 'operator' },
        schema: {
          summary: "The re-scorer against this site's labels: false police calls per camera-day (camera vs model), confirmed reports lowered, firearm reports lowered, calibration",
          querystring: { type: 'object', additionalProperties: false, properties: { days: { type: 'number', minimum: 0.001, maximum: 3650, default: 30 } } },
        },
      },
      async (req, reply) => {
        if (!rescorer) return reply.code(404).send({ error: 'no_rescorer', message: 'a custom scorer is in use: nothing to evaluate' });
        return rescorer.evaluation(req.query.days ?? 30);
      },
    );
  };
