import type { FastifyPluginAsync } from 'fastify';
import type { HttpDeps } from '../server.js';

export const healthRoutes =
  (deps: HttpDeps): FastifyPluginAsync =>
  async (app) => {
    app.get('/health', { schema: { summary: 'Health of the gateway and each component' } }, async (_request, reply) => {
      const { status, components } = deps.health.snapshot();
      void reply.status(status === 'unhealthy' ? 503 : 200);
      return {
        status,
        timestamp: new Date().toISOString(),
        service: 'SafeSphere Threat Management API',
        site_id: deps.config.site_id,
        version: deps.version,
        components,
      };
    });
  };
