// WS /ws/navigation?from=<zone>: the current safe route at once, then every change. The signage
// role is enough (operator and admin tokens grant it); browsers pass the token as ?access_token=.
import type { FastifyPluginAsync } from 'fastify';
import type { NavigationHub } from './hub.js';

export const navigationRoutes =
  (hub: NavigationHub): FastifyPluginAsync =>
  async (app) => {
    app.get<{ Querystring: Record<string, string | undefined> }>(
      '/ws/navigation',
      { websocket: true, config: { role: 'signage' }, schema: { hide: true } },
      (socket, request) => {
        const from = request.query.from;
        hub.attach(socket, typeof from === 'string' && from !== '' ? from : null);
      },
    );
  };
