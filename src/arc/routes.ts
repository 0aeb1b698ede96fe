// The station's status and an operator's own event (a test from the dashboard or a script);
// flows use the `safesphere arc` node, in-process.
import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ArcService } from './service.js';

const EventBody = Type.Object(
  {
    sia: Type.Optional(Type.String({ pattern: '^[A-Z]{2}$' })),
    cid: Type.Optional(Type.Integer({ minimum: 100, maximum: 999 })),
    zone: Type.Optional(Type.Integer({ minimum: 0, maximum: 999 })),
    partition: Type.Optional(Type.Integer({ minimum: 0, maximum: 99 })),
    restore: Type.Optional(Type.Boolean()),
    text: Type.Optional(Type.String({ maxLength: 200 })),
    account: Type.Optional(Type.String({ pattern: '^[0-9A-Fa-f]{3,16}$' })),
  },
  { additionalProperties: false },
);

export const arcRoutes =
  (arc: ArcService): FastifyPluginAsync =>
  async (app) => {
    app.get('/arc/status', { config: { role: 'operator' }, schema: { summary: 'The monitoring station: paths, last ACK, last supervision, failures' } }, async () => arc.transmitter.health());
    app.post<{ Body: typeof EventBody.static }>(
      '/arc/events',
      { config: { role: 'admin' }, schema: { summary: 'Send one event to the monitoring station now (answered with its ACK, or why not)', body: EventBody } },
      async (request, reply) => {
        const r = await arc.sendFlowEvent(request.body);
        return reply.code(r.ok ? 200 : r.transient ? 502 : 400).send(r);
      },
    );
  };
