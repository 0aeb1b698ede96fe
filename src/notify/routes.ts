// The acknowledge link: GET shows the incident and a button (mail scanners and link previews
// fetch links; a GET never acknowledges), POST acknowledges (the button, and ntfy's http action).
// Public routes: the signed, single-use, expiring token is the credential.
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { Type } from '@sinclair/typebox';
import { escapeHtml, type AckOutcome } from './channel.js';
import type { NotifyService } from './service.js';

function page(reply: FastifyReply, status: number, title: string, body: string): FastifyReply {
  return reply
    .code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('referrer-policy', 'no-referrer')
    .send(
      `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
        `<title>${escapeHtml(title)}</title><style>body{font-family:sans-serif;max-width:36em;margin:2em auto;padding:0 1em}` +
        `button{font-size:1.3em;padding:.6em 1.4em}</style></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`,
    );
}

const wantsJson = (accept: string | undefined) => /application\/json/.test(accept ?? '') && !/text\/html/.test(accept ?? '');

function answer(reply: FastifyReply, accept: string | undefined, outcome: AckOutcome): FastifyReply {
  if (wantsJson(accept)) return reply.code(outcome.ok ? 200 : outcome.status).send(outcome);
  if (outcome.ok) return page(reply, 200, outcome.first ? 'Acknowledged' : 'Already acknowledged', `<p>${escapeHtml(outcome.message)}</p>`);
  const titles = { malformed: 'Link not valid', forged: 'Link not valid', expired: 'Link expired', used: 'Link already used', unknown: 'Unknown link' } as const;
  return page(reply, outcome.status, titles[outcome.code], `<p>${escapeHtml(outcome.message)}</p>`);
}

const params = { params: Type.Object({ token: Type.String({ maxLength: 128 }) }) };

export const notifyRoutes =
  (notify: NotifyService): FastifyPluginAsync =>
  async (app) => {
    // The acknowledge page's form (this plugin only): the body is not read, the token is the request.
    app.addContentTypeParser(['application/x-www-form-urlencoded', 'text/plain'], { parseAs: 'string', bodyLimit: 4096 }, (_request, _body, done) => done(null, null));
    app.get<{ Params: { token: string } }>(
      '/notify/ack/:token',
      { config: { role: 'public' }, schema: { summary: 'The acknowledge link: the incident and an Acknowledge button (GET never acknowledges)', ...params } },
      async (request, reply) => {
        const check = notify.checkToken(request.params.token);
        if (!check.ok) return answer(reply, request.headers.accept, check);
        const m = check.message;
        return page(
          reply,
          200,
          `${m.level} threat: acknowledge?`,
          `<p>${escapeHtml(m.text)}</p><p>Camera ${escapeHtml(m.camera_id ?? '—')}${m.zone ? `, zone ${escapeHtml(m.zone)}` : ''}; incident <code>${escapeHtml(m.incident_id)}</code>.</p>` +
            `<p>Acknowledging stops the escalation: nobody else will be told.</p>` +
            `<form method="post"><button type="submit">Acknowledge</button></form>`,
        );
      },
    );
    app.post<{ Params: { token: string } }>(
      '/notify/ack/:token',
      {
        config: { role: 'public' },
        schema: { summary: 'Acknowledge an incident with a link or button token (single use; expired or forged tokens are refused)', ...params },
        // The e-mail page's form posts urlencoded; ntfy's action posts an empty body.
        validatorCompiler: () => () => true,
      },
      async (request, reply) => answer(reply, request.headers.accept, notify.byToken(request.params.token)),
    );
    app.get('/notify/status', { config: { role: 'operator' }, schema: { summary: 'Contacts, channels, the delivery queue, and what nobody will be told' } }, async () => notify.health());
  };
