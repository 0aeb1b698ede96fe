// Receivers for the delivery tests, all on loopback port 0.
// - SMTP: the real `smtp-server` npm package (the protocol is open), with AUTH and STARTTLS.
// - ntfy, Pushover, Telegram: local HTTP servers implementing the documented endpoints field for
//   field (these are cloud services):
//     ntfy       https://docs.ntfy.sh/publish/#publish-as-json
//     Pushover   https://pushover.net/api  and  https://pushover.net/api/receipts
//     Telegram   https://core.telegram.org/bots/api#sendmessage , #getupdates , #answercallbackquery
// - a webhook receiver that checks the HMAC-SHA256 signature and collapses resends by
//   Idempotency-Key, as an idempotent receiver does.
import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface Mail {
  from: string;
  to: string[];
  raw: string;
  user: string | null;
  secure: boolean;
  at: number;
}

export async function startSmtp(options: { user?: string; pass?: string; reject?: (to: string) => string | null; hang?: boolean } = {}) {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    authOptional: !options.user,
    // smtp-server's built-in self-signed certificate serves STARTTLS.
    onAuth(auth, _session, cb) {
      if (auth.username === options.user && auth.password === options.pass) cb(null, { user: auth.username });
      else cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onRcptTo(address, _session, cb) {
      const refusal = options.reject?.(address.address) ?? null;
      if (refusal) cb(Object.assign(new Error(refusal), { responseCode: 550 }));
      else cb();
    },
    onData(stream, session, cb) {
      let raw = '';
      stream.setEncoding('utf8');
      stream.on('data', (c: string) => (raw += c));
      stream.on('end', () => {
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
          user: (session.user as string | undefined) ?? null,
          secure: session.secure,
          at: performance.now(),
        });
        cb(null);
      });
    },
    logger: false,
  });
  // A client killed mid-session (the SIGKILL test) resets its connection: not the server's failure.
  server.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') throw err;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return { mails, port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function body(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const c of req) text += (c as Buffer).toString();
  return text;
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => Promise<void> | void): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    Promise.resolve(handler(req, res)).catch((err: Error) => json(res, 500, { error: err.message }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const close = (server: Server) => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); });

/** ntfy: POST / with a JSON body (topic required); answers the message object (id, time, expires, event, topic, …). */
export async function startNtfy(options: { token?: string; status?: number } = {}) {
  const published: { body: Record<string, unknown>; auth: string | null; at: number }[] = [];
  const { server, url } = await listen(async (req, res) => {
    const text = await body(req);
    if (req.method !== 'POST' || req.url !== '/') return json(res, 404, { code: 40401, http: 404, error: 'page not found', link: 'https://ntfy.sh/docs/publish/' });
    if (options.token && req.headers.authorization !== `Bearer ${options.token}`) return json(res, 401, { code: 40101, http: 401, error: 'unauthorized', link: 'https://ntfy.sh/docs/publish/#authentication' });
    if (options.status) return json(res, options.status, { code: options.status * 100 + 1, http: options.status, error: 'refused by the test', link: 'https://ntfy.sh/docs/publish/' });
    const b = JSON.parse(text) as Record<string, unknown>;
    if (typeof b.topic !== 'string' || !/^[-_A-Za-z0-9]{1,64}$/.test(b.topic)) return json(res, 400, { code: 40009, http: 400, error: 'invalid request: topic invalid', link: 'https://ntfy.sh/docs/publish/#publish-as-json' });
    const p = b.priority;
    if (p !== undefined && (typeof p !== 'number' || p < 1 || p > 5)) return json(res, 400, { code: 40007, http: 400, error: 'invalid priority', link: 'https://ntfy.sh/docs/publish/#message-priority' });
    published.push({ body: b, auth: req.headers.authorization ?? null, at: performance.now() });
    const now = Math.floor(Date.now() / 1000);
    const actions = Array.isArray(b.actions) ? (b.actions as Record<string, unknown>[]).map((a) => ({ id: randomUUID().slice(0, 10), ...a })) : undefined;
    json(res, 200, { id: randomUUID().replace(/-/g, '').slice(0, 12), time: now, expires: now + 43200, event: 'message', topic: b.topic, title: b.title, message: b.message, priority: b.priority, tags: b.tags, click: b.click, actions });
  });
  return { url, published, close: () => close(server) };
}

/** Pushover: POST /1/messages.json (form), GET /1/receipts/{receipt}.json, POST /1/receipts/{receipt}/cancel.json. */
export async function startPushover(appToken: string) {
  const messages: { form: URLSearchParams; at: number }[] = [];
  const receipts = new Map<string, { acknowledged: number; acknowledged_at: number; acknowledged_by: string; acknowledged_by_device: string; expired: number; expires_at: number; cancelled: boolean; user: string }>();
  const polls: string[] = [];
  const { server, url } = await listen(async (req, res) => {
    const text = await body(req);
    const path = new URL(req.url ?? '/', 'http://x');
    const request = randomUUID();
    if (req.method === 'POST' && path.pathname === '/1/messages.json') {
      const form = new URLSearchParams(text);
      const errors: string[] = [];
      if (form.get('token') !== appToken) return json(res, 400, { token: 'invalid', errors: ['application token is invalid'], status: 0, request });
      if (!/^[A-Za-z0-9]{30}$/.test(form.get('user') ?? '')) return json(res, 400, { user: 'invalid', errors: ['user identifier is not a valid user, group, or subscribed user key'], status: 0, request });
      if (!form.get('message')) errors.push('message cannot be blank');
      const priority = Number(form.get('priority') ?? 0);
      if (priority === 2) {
        if (!(Number(form.get('retry')) >= 30)) errors.push('retry is invalid');
        if (!(Number(form.get('expire')) > 0 && Number(form.get('expire')) <= 10800)) errors.push('expire is invalid');
      }
      if (errors.length) return json(res, 400, { errors, status: 0, request });
      messages.push({ form, at: performance.now() });
      if (priority === 2) {
        const receipt = randomUUID().replace(/-/g, '').slice(0, 30);
        receipts.set(receipt, { acknowledged: 0, acknowledged_at: 0, acknowledged_by: '', acknowledged_by_device: '', expired: 0, expires_at: Math.floor(Date.now() / 1000) + Number(form.get('expire')), cancelled: false, user: form.get('user')! });
        return json(res, 200, { status: 1, request, receipt });
      }
      return json(res, 200, { status: 1, request });
    }
    const m = /^\/1\/receipts\/([A-Za-z0-9]+)(\.json|\/cancel\.json)$/.exec(path.pathname);
    if (m) {
      const r = receipts.get(m[1]!);
      const token = req.method === 'GET' ? path.searchParams.get('token') : new URLSearchParams(text).get('token');
      if (token !== appToken) return json(res, 400, { token: 'invalid', errors: ['application token is invalid'], status: 0, request });
      if (!r) return json(res, 404, { receipt: 'not found', errors: ['receipt not found; may be invalid or expired'], status: 0, request });
      if (m[2] === '/cancel.json' && req.method === 'POST') {
        r.cancelled = true;
        return json(res, 200, { status: 1, request });
      }
      polls.push(m[1]!);
      return json(res, 200, {
        status: 1,
        acknowledged: r.acknowledged,
        acknowledged_at: r.acknowledged_at,
        acknowledged_by: r.acknowledged_by,
        acknowledged_by_device: r.acknowledged_by_device,
        last_delivered_at: Math.floor(Date.now() / 1000),
        expired: r.expired,
        expires_at: r.expires_at,
        called_back: 0,
        called_back_at: 0,
        request,
      });
    }
    json(res, 404, { errors: ['not found'], status: 0, request });
  });
  /** A person taps "Acknowledge" in the Pushover app. */
  const acknowledge = (receipt: string, device = 'iphone') => {
    const r = receipts.get(receipt)!;
    Object.assign(r, { acknowledged: 1, acknowledged_at: Math.floor(Date.now() / 1000), acknowledged_by: r.user, acknowledged_by_device: device });
  };
  return { url, messages, receipts, polls, acknowledge, close: () => close(server) };
}

/** Telegram Bot API: /bot<token>/sendMessage, /getUpdates (long polling), /answerCallbackQuery. */
export async function startTelegram(botToken: string) {
  const sent: { body: Record<string, unknown>; message_id: number; at: number }[] = [];
  const answers: Record<string, unknown>[] = [];
  const updates: Record<string, unknown>[] = [];
  const waiting = new Set<() => void>();
  let nextUpdate = 1000;
  let nextMessage = 1;
  const { server, url } = await listen(async (req, res) => {
    const text = await body(req);
    const m = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(req.url ?? '');
    if (!m || m[1] !== botToken) return json(res, 401, { ok: false, error_code: 401, description: 'Unauthorized' });
    const b = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
    if (m[2] === 'sendMessage') {
      if (b.chat_id === undefined || !b.text) return json(res, 400, { ok: false, error_code: 400, description: 'Bad Request: message text is empty' });
      if (String(b.chat_id) === '404') return json(res, 400, { ok: false, error_code: 400, description: 'Bad Request: chat not found' });
      const markup = b.reply_markup as { inline_keyboard?: { text: string; callback_data?: string }[][] } | undefined;
      for (const row of markup?.inline_keyboard ?? []) for (const button of row) {
        if (button.callback_data !== undefined && Buffer.byteLength(button.callback_data) > 64) return json(res, 400, { ok: false, error_code: 400, description: 'Bad Request: BUTTON_DATA_INVALID' });
      }
      const message_id = nextMessage++;
      sent.push({ body: b, message_id, at: performance.now() });
      return json(res, 200, { ok: true, result: { message_id, date: Math.floor(Date.now() / 1000), chat: { id: Number(b.chat_id), type: 'private' }, text: b.text, reply_markup: b.reply_markup } });
    }
    if (m[2] === 'getUpdates') {
      const offset = typeof b.offset === 'number' ? b.offset : 0;
      const pending = () => updates.filter((u) => (u.update_id as number) >= offset);
      // Updates below the offset are confirmed: Telegram forgets them.
      for (let i = updates.length - 1; i >= 0; i--) if ((updates[i]!.update_id as number) < offset) updates.splice(i, 1);
      if (pending().length === 0 && typeof b.timeout === 'number' && b.timeout > 0) {
        await new Promise<void>((resolve) => {
          const done = () => {
            waiting.delete(done);
            clearTimeout(t);
            resolve();
          };
          const t = setTimeout(done, Math.min(b.timeout as number, 2) * 1000);
          waiting.add(done);
          req.on('close', done);
        });
      }
      return json(res, 200, { ok: true, result: pending() });
    }
    if (m[2] === 'answerCallbackQuery') {
      if (!b.callback_query_id) return json(res, 400, { ok: false, error_code: 400, description: 'Bad Request: query is too old and response timeout expired or query ID is invalid' });
      answers.push(b);
      return json(res, 200, { ok: true, result: true });
    }
    json(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
  });
  /** A person taps the inline button of a sent message. */
  const press = (messageIndex: number, from = { id: 42, is_bot: false, first_name: 'Dana', username: 'dana_duty' }) => {
    const s = sent[messageIndex]!;
    const button = (s.body.reply_markup as { inline_keyboard: { callback_data: string }[][] }).inline_keyboard[0]![0]!;
    updates.push({
      update_id: nextUpdate++,
      callback_query: { id: randomUUID(), from, message: { message_id: s.message_id, date: 0, chat: { id: Number(s.body.chat_id), type: 'private' } }, chat_instance: '1', data: button.callback_data },
    });
    for (const w of [...waiting]) w();
  };
  return { url, sent, answers, updates, press, close: () => close(server) };
}

/** A webhook receiver: checks X-SafeSphere-Signature, collapses resends by Idempotency-Key. */
export async function startWebhook(secret: string, options: { status?: () => number; delayMs?: number } = {}) {
  const received: { key: string; path: string; body: Record<string, unknown>; signatureOk: boolean; at: number }[] = [];
  const byKey = new Map<string, number>();
  const { server, url } = await listen(async (req, res) => {
    const text = await body(req);
    if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
    const status = options.status?.() ?? 200;
    if (status !== 200) return json(res, status, { error: 'refused by the test' });
    const key = String(req.headers['idempotency-key'] ?? '');
    const want = `sha256=${createHmac('sha256', secret).update(text).digest('hex')}`;
    received.push({ key, path: req.url ?? '', body: JSON.parse(text) as Record<string, unknown>, signatureOk: req.headers['x-safesphere-signature'] === want, at: performance.now() });
    byKey.set(key, (byKey.get(key) ?? 0) + 1);
    json(res, 200, { ok: true, duplicate: byKey.get(key)! > 1 });
  });
  return { url, received, byKey, close: () => close(server) };
}
