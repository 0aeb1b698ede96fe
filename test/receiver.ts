// A local stand-in for the SafeSphere backend: implements the seed's POST /threats/report
// and POST /upload/screenshot, records every request it answers, and can be told to fail
// (status codes, connection resets, requests that never get an answer) or to go away.
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface Received {
  path: string;
  key: string;
  incidentId: string;
  level: string;
  camera: string | null;
  kind: string;
  body: any;
  raw: Buffer;
  headers: http.IncomingHttpHeaders;
  status: number;
  at: number;
}

/** What to do with one request: answer normally, answer with a status, reset the connection, or never answer. */
export type Fault =
  | { status: number; headers?: Record<string, string> }
  /** Answer normally, after a delay. */
  | { delayMs: number }
  | 'reset'
  | 'hang'
  /** Record the request as accepted, then cut the connection before answering: the sender must resend. */
  | 'accept-then-reset'
  | null;

export class Receiver extends EventEmitter {
  /** Requests answered 2xx, in arrival order. */
  readonly accepted: Received[] = [];
  /** Every request that arrived, whatever its fate. */
  attempts = 0;
  /** Consulted for every request; return null to answer normally. */
  fault: (req: { path: string; key: string; body: any; n: number }) => Fault = () => null;
  requireToken: string | null = null;
  /** POST /sites/<site_id>/heartbeat bodies (the gateway's documented heartbeat), kept apart from reports. */
  readonly heartbeats: { site: string; body: any; at: number }[] = [];
  /** POST /sites/<site_id>/events bodies (arming changes), with their idempotency keys. */
  readonly siteEvents: { site: string; key: string; body: any }[] = [];
  private server: http.Server | null = null;
  private readonly sockets = new Set<Socket>();
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Distinct idempotency keys accepted, with how many times each came. */
  keys(): Map<string, number> {
    const m = new Map<string, number>();
    for (const r of this.accepted) m.set(r.key, (m.get(r.key) ?? 0) + 1);
    return m;
  }

  async start(port = this.port): Promise<void> {
    const server = http.createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 30_000;
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /** Goes away: refuses new connections and cuts the open ones. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Resolves when `predicate` holds, re-checked on every accepted request. */
  waitFor(predicate: () => boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('accepted', check);
        reject(new Error(`receiver: ${what} not met within ${timeoutMs} ms (accepted ${this.accepted.length}, keys ${this.keys().size})`));
      }, timeoutMs);
      const check = () => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.off('accepted', check);
        resolve();
      };
      this.on('accepted', check);
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const path = req.url ?? '';
      const site = /^\/sites\/([^/]+)\/(heartbeat|events)$/.exec(path);
      if (site && req.method === 'POST') {
        // Site-level endpoints: not counted in `attempts`, so the report fault patterns stay as they were.
        let parsed: any;
        try {
          parsed = JSON.parse(raw.toString('utf8'));
        } catch {
          res.writeHead(400).end('{"detail":"bad json"}');
          return;
        }
        if (site[2] === 'heartbeat') this.heartbeats.push({ site: decodeURIComponent(site[1]!), body: parsed, at: Date.now() });
        else this.siteEvents.push({ site: decodeURIComponent(site[1]!), key: String(req.headers['idempotency-key'] ?? ''), body: parsed });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"success":true}');
        this.emit('site', site[2]);
        return;
      }
      const n = ++this.attempts;
      let body: any = null;
      let key = String(req.headers['idempotency-key'] ?? '');
      if (path === '/threats/report') {
        try {
          body = JSON.parse(raw.toString('utf8'));
        } catch {
          res.writeHead(400).end('{"detail":"bad json"}');
          return;
        }
      } else if (path === '/upload/screenshot') {
        body = { multipart: true, contentType: req.headers['content-type'], bytes: raw.length };
        key = `${key}#upload`;
      } else {
        res.writeHead(404).end('{"detail":"Not Found"}');
        return;
      }
      if (this.requireToken && req.headers.authorization !== `Bearer ${this.requireToken}`) {
        res.writeHead(401).end('{"detail":"Not authenticated"}');
        return;
      }
      const fault = this.fault({ path, key, body, n });
      if (fault === 'reset') {
        req.socket.destroy();
        return;
      }
      if (fault === 'hang') return; // never answered; the sender's timeout must fire
      if (fault && typeof fault === 'object' && 'status' in fault) {
        res.writeHead(fault.status, { 'content-type': 'application/json', ...(fault.headers ?? {}) }).end('{"detail":"injected"}');
        return;
      }
      const rec: Received = {
        path,
        key,
        incidentId: body?.incident_id ?? '',
        level: body?.threat_level ?? '',
        camera: body?.camera_id ?? null,
        kind: body?.sync?.kind ?? 'upload',
        body,
        raw,
        headers: req.headers,
        status: 200,
        at: Date.now(),
      };
      this.accepted.push(rec);
      if (fault === 'accept-then-reset') {
        req.socket.destroy();
        this.emit('accepted', rec);
        return;
      }
      const answer = () => res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({ success: true, incident_id: rec.incidentId, message: 'Threat incident logged', action_taken: '[]' }),
      );
      if (fault && typeof fault === 'object' && 'delayMs' in fault) setTimeout(answer, fault.delayMs);
      else answer();
      this.emit('accepted', rec);
    });
  }
}
