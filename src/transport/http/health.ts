import type { FastifyPluginAsync } from 'fastify';
import type { GatewayConfig } from '../../config/schema.js';
import type { HealthRegistry } from '../../health.js';

export const healthRoutes =
  (deps: { config: GatewayConfig; health: HealthRegistry; version: string }): FastifyPluginAsync =>
  async (app) => {
    app.get(
      '/health',
      {
        // Open to everyone; only the overall state without a token (or a trusted network).
        config: { role: 'public' },
        schema: { summary: 'Health of the gateway; each component\'s state with a token or from a trusted network' },
      },
      async (request, reply) => {
      const { status, components } = deps.health.snapshot();
      void reply.status(status === 'unhealthy' ? 503 : 200);
      const principal = request.principal;
      if (deps.config.auth.enabled && (!principal || principal.kind === 'anonymous')) {
        return { status, timestamp: new Date().toISOString(), service: 'SafeSphere Threat Management API' };
      }
      return {
        status,
        timestamp: new Date().toISOString(),
        service: 'SafeSphere Threat Management API',
        site_id: deps.config.site_id,
        version: deps.version,
        components,
      };
      },
    );
  };
