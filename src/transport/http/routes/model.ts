// GET /model: the active re-scoring model's manifest, when it was loaded, the last
// refused pair (if any), the safety floor in force and the stage's counters.
import type { FastifyPluginAsync } from 'fastify';
import type { HttpDeps } from '../server.js';

export const modelRoutes =
  (deps: HttpDeps): FastifyPluginAsync =>
  async (app) => {
    app.get('/model', { config: { role: 'operator' }, schema: { summary: 'The active re-scoring model: manifest, load time, status' } }, async () => {
      const rescorer = deps.rescorer;
      if (!rescorer) return { enabled: false, status: 'up', active: null, reason: 'a custom scorer is in use' };
      return rescorer.info();
    });
  };
