// GET /model: the active re-scoring model's manifest, when it was loaded, the last
// refused pair (if any), the safety floor in force and the stage's counters.
import type { FastifyPluginAsync } from 'fastify';
import type { RescoreStage } from './rescorer.js';

export const modelRoutes =
  (rescorer: RescoreStage | null): FastifyPluginAsync =>
  async (app) => {
    app.get('/model', { config: { role: 'operator' }, schema: { summary: 'The active re-scoring model: manifest, load time, status' } }, async () => {
      if (!rescorer) return { enabled: false, status: 'up', active: null, reason: 'a custom scorer is in use' };
      return rescorer.info();
    });
  };
