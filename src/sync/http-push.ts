// HTTP push to a SafeSphere-compatible backend: each outbox entry is one
// POST <url>/threats/report carrying the incident document; snapshot entries also go to
// POST <url>/upload/screenshot as the seed's multipart form. node:http with a keep-alive
// agent: no per-request connection set-up, and full control of timeouts and resets.
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { isAbsolute, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../logger.js';
import { CONSUMER } from '../store/outbox.js';
import type { ByteBucket } from './timing.js';
import { laneOf, type PreparedEntry, type PushTransport, type SendOutcome } from './transport.js';
import { parseRetryAfter } from './timing.js';

export interface HttpPushOptions {
  url: string;
  /** Resolved at start (config token, or the token file). */
  token: () => string;
  timeoutMs: number;
  concurrency: number;
  dataDir: string;
  siteId: string;
}

interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** 2xx and 409 (already there) are delivered; 408/429/5xx are retried; other 4xx poison the entry. */
export function classifyStatus(status: number, headers: http.IncomingHttpHeaders, body: string): SendOutcome {
  if ((status >= 200 && status < 300) || status === 409) return { kind: 'delivered' };
  if (status === 408 || status === 429 || status >= 500) {
    return { kind: 'retry', error: `HTTP ${status}`, retryAfterMs: parseRetryAfter(headers['retry-after']) };
  }
  if (status === 401 || status === 403) {
    // Our credentials, not this entry: poisoning would condemn the whole backlog for a wrong token.
    return { kind: 'retry', error: `HTTP ${status}: the upstream refused the token (check upstream.http.token)` };
  }
  return { kind: 'poisoned', status, error: `HTTP ${status}: ${body.slice(0, 500)}` };
}

export class HttpPushTransport implements PushTransport {
  readonly name = 'http' as const;
  readonly bit = CONSUMER.http;
  private agent: http.Agent | null = null;
  private readonly base: URL;
  private lastOk = false;
  private readonly inflight = new Map<http.ClientRequest, Promise<unknown>>();
  private get inflightReqs(): http.ClientRequest[] {
    return [...this.inflight.keys()];
  }

  constructor(
    private readonly options: HttpPushOptions,
    private readonly bucket: ByteBucket,
    private readonly log: Logger,
  ) {
    this.base = new URL(options.url.endsWith('/') ? options.url : `${options.url}/`);
  }

  get connected(): boolean {
    return this.lastOk;
  }

  async start(): Promise<void> {
    const Agent = this.base.protocol === 'https:' ? https.Agent : http.Agent;
    this.agent = new Agent({ keepAlive: true, maxSockets: this.options.concurrency, keepAliveMsecs: 10_000 });
  }

  async stop(graceMs: number): Promise<void> {
    if (this.inflight.size > 0 && graceMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.inflight.values()]),
        new Promise<void>((r) => (timer = setTimeout(r, graceMs))),
      ]);
      clearTimeout(timer);
    }
    for (const req of this.inflightReqs) req.destroy(new Error('gateway stopping'));
    this.agent?.destroy();
    this.agent = null;
  }

  async ready(): Promise<void> {}

  async sendBatch(batch: PreparedEntry[], signal: AbortSignal): Promise<SendOutcome[]> {
    const outcomes: SendOutcome[] = batch.map(() => ({ kind: 'skipped' }));
    // Lanes run side by side; inside a lane, one request at a time, in order, and a lane
    // stops at its first failure so nothing overtakes the entry that failed.
    const lanes = new Map<string, number[]>();
    batch.forEach((p, i) => {
      const key = laneOf(p.entry);
      let lane = lanes.get(key);
      if (!lane) lanes.set(key, (lane = []));
      lane.push(i);
    });
    // Level by level: every CRITICAL lane finishes before any HIGH entry goes, and so on.
    const tiers = new Map<number, number[][]>();
    for (const lane of lanes.values()) {
      const rank = batch[lane[0]!]!.entry.rank;
      let tier = tiers.get(rank);
      if (!tier) tiers.set(rank, (tier = []));
      tier.push(lane);
    }
    let stopAll = false;
    for (const rank of [...tiers.keys()].sort((a, b) => a - b)) {
      const queue = tiers.get(rank)!;
      const worker = async () => {
        for (let lane = queue.shift(); lane; lane = queue.shift()) {
          for (const i of lane) {
            if (signal.aborted || stopAll) return;
            const outcome = await this.sendOne(batch[i]!, signal);
            outcomes[i] = outcome;
            if (outcome.kind === 'retry') {
              // A 5xx, a timeout or a reset usually means the upstream as a whole is in
              // trouble: stop here; the next round starts again from this entry.
              stopAll = true;
              break;
            }
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.options.concurrency, queue.length) }, worker));
      if (stopAll || signal.aborted) break;
    }
    return outcomes;
  }

  private async sendOne(p: PreparedEntry, signal: AbortSignal): Promise<SendOutcome> {
    if (!p.doc) return { kind: 'delivered' }; // the incident was evicted meanwhile: nothing left to send
    const headers: http.OutgoingHttpHeaders = { 'idempotency-key': p.doc.sync.idempotency_key };
    const token = this.options.token();
    if (token) headers.authorization = `Bearer ${token}`;
    try {
      if (p.entry.kind === 'snapshot') {
        const outcome = await this.sendSnapshot(p, headers, signal);
        if (outcome) return outcome;
      }
      const body = Buffer.from(JSON.stringify(p.doc));
      await this.bucket.take(body.length, signal);
      const res = await this.request('threats/report', { ...headers, 'content-type': 'application/json' }, body, signal);
      const outcome = classifyStatus(res.status, res.headers, res.body);
      this.lastOk = outcome.kind !== 'retry';
      return outcome;
    } catch (err) {
      this.lastOk = false;
      return { kind: 'retry', error: (err as Error).message };
    }
  }

  /** One JSON POST to `path` under the base URL (site heartbeats and events, src/sync/site.ts). */
  async postJson(path: string, body: unknown, headers: http.OutgoingHttpHeaders, signal: AbortSignal): Promise<SendOutcome> {
    const token = this.options.token();
    const bytes = Buffer.from(JSON.stringify(body));
    try {
      await this.bucket.take(bytes.length, signal);
      const res = await this.request(path, { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' }, bytes, signal);
      return classifyStatus(res.status, res.headers, res.body);
    } catch (err) {
      return { kind: 'retry', error: (err as Error).message };
    }
  }

  /** The seed's multipart upload; returns an outcome only when it ends the entry's delivery. */
  private async sendSnapshot(p: PreparedEntry, headers: http.OutgoingHttpHeaders, signal: AbortSignal): Promise<SendOutcome | null> {
    const change = (p.doc!.change ?? {}) as { path?: unknown; evicted?: unknown };
    if (change.evicted === true || typeof change.path !== 'string') return null; // reference only
    const file = isAbsolute(change.path) ? change.path : join(this.options.dataDir, change.path);
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch {
      return { kind: 'poisoned', status: null, error: `snapshot file ${file} is missing` };
    }
    const boundary = `----safesphere${randomBytes(12).toString('hex')}`;
    const field = (name: string, value: string) =>
      `--${boundary}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
    const body = Buffer.concat([
      Buffer.from(
        field('incident_id', p.entry.incident_id) +
          field('site_id', this.options.siteId) +
          field('idempotency_key', p.doc!.sync.idempotency_key) +
          `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${p.entry.incident_id}_screenshot.jpg"\r\n` +
          'content-type: image/jpeg\r\n\r\n',
      ),
      bytes,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    await this.bucket.take(body.length, signal);
    const res = await this.request('upload/screenshot', { ...headers, 'content-type': `multipart/form-data; boundary=${boundary}` }, body, signal);
    const outcome = classifyStatus(res.status, res.headers, res.body);
    return outcome.kind === 'delivered' ? null : outcome; // then the reference goes to /threats/report
  }

  private request(path: string, headers: http.OutgoingHttpHeaders, body: Buffer, signal: AbortSignal): Promise<Response> {
    const url = new URL(path, this.base);
    const lib = url.protocol === 'https:' ? https : http;
    let settle!: () => void;
    const settled = new Promise<void>((r) => (settle = r));
    return new Promise<Response>((resolve, reject) => {
      if (signal.aborted) return reject(new Error('aborted'));
      const req = lib.request(url, {
        method: 'POST',
        agent: this.agent ?? undefined,
        headers: { ...headers, 'content-length': body.length },
        timeout: this.options.timeoutMs,
      });
      this.inflight.set(req, settled);
      const overall = setTimeout(() => req.destroy(new Error(`no answer within ${this.options.timeoutMs} ms`)), this.options.timeoutMs);
      const cleanup = () => {
        clearTimeout(overall);
        this.inflight.delete(req);
        settle();
      };
      req.on('timeout', () => req.destroy(new Error(`socket idle for ${this.options.timeoutMs} ms`)));
      req.on('error', (err) => {
        cleanup();
        reject(err);
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < 64 * 1024) chunks.push(c);
          size += c.length;
        });
        res.on('end', () => {
          cleanup();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', (err) => {
          cleanup();
          reject(err);
        });
        res.on('aborted', () => {
          cleanup();
          reject(new Error('response aborted'));
        });
      });
      req.end(body);
    }).catch((err: unknown) => {
      this.log.debug({ err, path }, 'upstream request failed');
      throw err;
    });
  }
}
