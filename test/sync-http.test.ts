// Upstream sync over HTTP against a local SafeSphere-style receiver: outages, priority,
// per-camera order, faults mid-batch, poisoned entries, restarts, snapshots and labels.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ReportedLevelScorer } from '../src/scoring/scorer.js';
import type { SyncService } from '../src/sync/service.js';
import { getJson, postJson, seedReport, startGateway, tempDir, type TestGateway } from './helpers.js';
import { Daemon } from './daemon.js';
import { Receiver, type Received } from './receiver.js';

const LEVELS = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
const RANK: Record<string, number> = { CRITICAL: 0, HIGH: 1, MEDIUM: 2, LOW: 3 };

function upstream(url: string, extra: Record<string, unknown> = {}, http: Record<string, unknown> = {}) {
  return {
    upstream: { retry_base_ms: 10, retry_max_ms: 100, poll_interval_ms: 50, ...extra, http: { enabled: true, url, timeout_ms: 2000, ...http } },
  };
}

/** Posts reports; ids are `${prefix}_${i}`, levels and cameras cycle. */
async function report(gw: TestGateway, prefix: string, n: number, level?: (i: number) => string, cameras = 4): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = `${prefix}_${i}`;
    const lvl = level ? level(i) : LEVELS[i % 4]!;
    const res = await postJson(
      `${gw.httpUrl}/threats/report`,
      seedReport({ incident_id: id, threat_level: lvl, weapon_detected: false, weapon_types: [], camera_id: `cam-${i % cameras}` }),
    );
    expect(res.status).toBe(200);
    ids.push(id);
  }
  return ids;
}

/** Resolves after the drainer's next round in which `predicate` holds. */
function whenRound(sync: SyncService, predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const d = sync.drainer('http')!;
  if (predicate()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error('drainer condition not met'));
    }, timeoutMs);
    const off = d.onRound(() => {
      if (!predicate()) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

/** Within each level and camera, first arrivals must come in the order the reports were stored. */
function expectLaneOrder(accepted: Received[], ids: string[]): void {
  const order = new Map(ids.map((id, i) => [id, i]));
  const seen = new Set<string>();
  const last = new Map<string, number>();
  for (const r of accepted) {
    if (seen.has(r.key)) continue;
    seen.add(r.key);
    const lane = `${r.level}/${r.camera}`;
    const pos = order.get(r.incidentId)!;
    expect(pos, `lane ${lane}: ${r.incidentId} overtook an earlier entry`).toBeGreaterThan(last.get(lane) ?? -1);
    last.set(lane, pos);
  }
}

describe('upstream sync: HTTP push', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function setup(overrides: Record<string, unknown>, dataDir?: string): Promise<TestGateway> {
    const gw = await startGateway(overrides, { scorer: new ReportedLevelScorer(), ...(dataDir ? { dataDir } : {}) });
    cleanup.push(() => gw.stop());
    return gw;
  }

  it('holds a backlog while the receiver is down, then delivers every incident exactly once, CRITICAL first', async () => {
    const receiver = new Receiver();
    await receiver.start();
    await receiver.stop(); // down: connections refused on its port
    cleanup.push(() => receiver.stop());
    // Small batches, so the order across batches (the outbox query) matters, not just within one.
    const gw = await setup(upstream(receiver.url, { batch_size: 8 }));
    const sync = gw.gateway.get('sync')!;

    const ids = await report(gw, 'DOWN', 60);
    await whenRound(sync, () => sync.drainer('http')!.stats.consecutive_failures >= 2);
    const status = (await getJson(`${gw.httpUrl}/sync/status`)).body;
    expect(status.transports.http).toMatchObject({
      connected: false,
      backlog: { total: 60, CRITICAL: 15, HIGH: 15, MEDIUM: 15, LOW: 15 },
      poisoned: 0,
    });
    expect(status.transports.http.last_error).toMatch(/ECONNREFUSED/);
    expect(status.transports.http.oldest_undelivered_age_s).toBeGreaterThanOrEqual(0);
    const health = (await getJson(`${gw.httpUrl}/health`)).body;
    expect(health.components.sync.status).toBe('degraded');
    expect(health.status).toBe('degraded'); // never "unhealthy" for an uplink outage

    await receiver.start(); // back, same port
    await receiver.waitFor(() => receiver.keys().size === 60, 15_000, 'all 60 incidents');
    const keys = receiver.keys();
    expect([...keys.values()].every((n) => n === 1)).toBe(true);
    expect(new Set(receiver.accepted.map((r) => r.incidentId))).toEqual(new Set(ids));
    // Severity first: the arrival order never goes back to a more severe level.
    const ranks = receiver.accepted.map((r) => RANK[r.level]!);
    expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
    expect(receiver.accepted[0]!.level).toBe('CRITICAL');
    expectLaneOrder(receiver.accepted, ids);
    // The body: the seed's report plus the gateway's fields.
    const body = receiver.accepted[0]!.body;
    expect(body).toMatchObject({ site_id: gw.config.site_id, reported_level: 'CRITICAL', final_level: 'CRITICAL', weapon_types: [] });
    expect(body.actions).toHaveLength(6);
    expect(body.sync.idempotency_key).toBe(`${gw.config.site_id}:${body.incident_id}:incident:1`);
    expect(receiver.accepted[0]!.headers['idempotency-key']).toBe(body.sync.idempotency_key);

    await whenRound(sync, () => sync.status(0).transports.http!.backlog.total === 0);
    expect(sync.status(0).transports.http).toMatchObject({ connected: true, consecutive_failures: 0 });
  });

  it('loses and duplicates nothing when the receiver fails mid-batch with 500s, resets and timeouts', async () => {
    const receiver = new Receiver();
    await receiver.start();
    cleanup.push(() => receiver.stop());
    const injected = { status500: 0, retryAfter: 0, reset: 0, hang: 0, acceptThenReset: 0 };
    receiver.fault = ({ n }) => {
      if (n % 9 === 2 && injected.status500 < 6) return injected.status500++, { status: 500 };
      if (n % 13 === 4 && injected.retryAfter < 2) return injected.retryAfter++, { status: 503, headers: { 'retry-after': '0' } };
      if (n % 11 === 5 && injected.reset < 5) return injected.reset++, 'reset';
      if (n % 17 === 8 && injected.hang < 2) return injected.hang++, 'hang';
      if (n % 10 === 7 && injected.acceptThenReset < 4) return injected.acceptThenReset++, 'accept-then-reset';
      return null;
    };
    const gw = await setup(upstream(receiver.url, { batch_size: 32 }, { timeout_ms: 300, concurrency: 4 }));
    const ids = await report(gw, 'FAULT', 120, undefined, 6);
    await receiver.waitFor(() => receiver.keys().size === 120, 25_000, 'all 120 incidents');
    await whenRound(gw.gateway.get('sync')!, () => gw.gateway.get('sync')!.status(0).transports.http!.backlog.total === 0);

    expect(Object.values(injected).every((n) => n > 0)).toBe(true);
    const keys = receiver.keys();
    expect(new Set(receiver.accepted.map((r) => r.incidentId))).toEqual(new Set(ids));
    // Only the requests the receiver took and then cut off came twice; the key collapses them.
    const duplicates = receiver.accepted.length - keys.size;
    expect(duplicates).toBeLessThanOrEqual(injected.acceptThenReset);
    expect([...keys.values()].every((n) => n <= 2)).toBe(true);
    expectLaneOrder(receiver.accepted, ids);
    expect(gw.gateway.get('sync')!.status(0).transports.http!.poisoned).toBe(0);
    expect(gw.gateway.get('sync')!.drainer('http')!.stats.failures).toBeGreaterThan(0);
  });

  it('poisons only the entry a 400 refuses: kept, listed, not retried, and requeued on request', async () => {
    const receiver = new Receiver();
    await receiver.start();
    cleanup.push(() => receiver.stop());
    let refuse = true;
    let poisonAttempts = 0;
    receiver.fault = ({ body }) => {
      if (body?.incident_id !== 'POISON_3') return null;
      poisonAttempts++;
      return refuse ? { status: 400 } : null;
    };
    const gw = await setup({ ...upstream(receiver.url), sync: { token: 's3cret' } });
    await report(gw, 'POISON', 10, () => 'HIGH', 1);
    await receiver.waitFor(() => receiver.keys().size === 9, 10_000, 'the 9 good incidents');
    const sync = gw.gateway.get('sync')!;
    await whenRound(sync, () => sync.status(0).transports.http!.backlog.total === 0);
    // A later entry of the same camera went on after the poisoned one.
    expect(receiver.accepted.map((r) => r.incidentId)).toContain('POISON_9');
    expect(poisonAttempts).toBe(1);
    const status = (await getJson(`${gw.httpUrl}/sync/status`)).body;
    expect(status.transports.http.poisoned).toBe(1);
    const listed = (await getJson(`${gw.httpUrl}/sync/poisoned?transport=http`)).body;
    expect(listed.entries).toEqual([expect.objectContaining({ incident_id: 'POISON_3', status: 400, kind: 'incident', threat_level: 'HIGH' })]);
    expect((await getJson(`${gw.httpUrl}/health`)).body.components.sync.status).toBe('degraded');

    // Several more rounds: still exactly one attempt.
    await report(gw, 'AFTER', 3, () => 'LOW', 1);
    await receiver.waitFor(() => receiver.keys().size === 12);
    expect(poisonAttempts).toBe(1);

    refuse = false;
    const retry = await postJson(`${gw.httpUrl}/sync/poisoned/retry`, { transport: 'http' }, { authorization: 'Bearer s3cret' });
    expect(retry.body).toEqual({ transport: 'http', requeued: 1 });
    await receiver.waitFor(() => receiver.keys().size === 13);
    expect(sync.status(0).transports.http!.poisoned).toBe(0);
  });

  it('honours Retry-After on a 429', async () => {
    const receiver = new Receiver();
    await receiver.start();
    cleanup.push(() => receiver.stop());
    const attempts: number[] = [];
    receiver.fault = () => {
      attempts.push(Date.now());
      return attempts.length === 1 ? { status: 429, headers: { 'retry-after': '1' } } : null;
    };
    const gw = await setup(upstream(receiver.url));
    await report(gw, 'RA', 1, () => 'CRITICAL');
    await receiver.waitFor(() => receiver.keys().size === 1);
    expect(attempts).toHaveLength(2);
    expect(attempts[1]! - attempts[0]!).toBeGreaterThanOrEqual(950); // retry_base_ms is 10: the header set the wait
    expect(gw.gateway.get('sync')!.drainer('http')!.stats.last_error).toBe('HTTP 429');
  });

  it('treats 401 as a credentials problem to retry, not as a poisoned entry, and sends the configured token', async () => {
    const receiver = new Receiver();
    await receiver.start();
    cleanup.push(() => receiver.stop());
    receiver.requireToken = 'right';
    const dir = tempDir();
    writeFileSync(join(dir, 'token'), 'wrong\n');
    const gw = await setup(upstream(receiver.url, {}, { token_file: join(dir, 'token') }));
    const sync = gw.gateway.get('sync')!;
    await report(gw, 'AUTH', 3);
    await whenRound(sync, () => sync.drainer('http')!.stats.consecutive_failures >= 2);
    expect(sync.status(0).transports.http).toMatchObject({ poisoned: 0, backlog: { total: 3 } });
    expect(sync.drainer('http')!.stats.last_error).toMatch(/401/);
    receiver.requireToken = 'wrong'; // the upstream now accepts the token the gateway has
    await receiver.waitFor(() => receiver.keys().size === 3);
    expect(receiver.accepted[0]!.headers.authorization).toBe('Bearer wrong');
  });

  it('loses and duplicates nothing when the gateway restarts mid-drain', async () => {
    const receiver = new Receiver();
    await receiver.start();
    cleanup.push(() => receiver.stop());
    receiver.fault = () => ({ delayMs: 3 });
    const dataDir = tempDir();
    const overrides = upstream(receiver.url, { batch_size: 16 }, { concurrency: 2 });
    // Build the backlog while the receiver is away, so the drain starts with all of it.
    await receiver.stop();
    const first = await setup(overrides, dataDir);
    const ids = await report(first, 'RESTART', 200, undefined, 5);
    await first.stop();
    cleanup.pop();
    await receiver.start();

    const second = await setup(overrides, dataDir);
    await receiver.waitFor(() => receiver.keys().size >= 40, 10_000, '40 delivered before the restart');
    await second.stop(); // mid-drain: sends in flight get stop_grace_ms to finish
    cleanup.pop();
    const before = receiver.keys().size;
    expect(before).toBeLessThan(200);

    const third = await setup(overrides, dataDir);
    await receiver.waitFor(() => receiver.keys().size === 200, 20_000, 'all 200 after the restart');
    await whenRound(third.gateway.get('sync')!, () => third.gateway.get('sync')!.status(0).transports.http!.backlog.total === 0);
    expect(receiver.accepted.length).toBe(200); // not one duplicate, even before collapsing by key
    expect(new Set(receiver.accepted.map((r) => r.incidentId))).toEqual(new Set(ids));
  });

  it('sends snapshots as the seed multipart upload, and labels with their incident', async () => {
    const receiver = new Receiver();
    await receiver.start();
    cleanup.push(() => receiver.stop());
    const gw = await setup(upstream(receiver.url));
    await report(gw, 'SNAP', 1, () => 'HIGH');
    await receiver.waitFor(() => receiver.keys().size === 1);

    mkdirSync(join(gw.dataDir, 'snapshots'), { recursive: true });
    const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(2000, 7), Buffer.from([0xff, 0xd9])]);
    writeFileSync(join(gw.dataDir, 'snapshots', 'SNAP_0.jpg'), jpeg);
    const store = gw.gateway.store;
    store.transaction(() => {
      store.outbox.enqueue('snapshot', 'SNAP_0', { payload: { path: 'snapshots/SNAP_0.jpg', bytes: jpeg.length, sha256: 'x' } });
    });
    const label = gw.gateway.store.labels.add({ incidentId: 'SNAP_0', label: 'confirmed', by: 'operator-1', note: 'seen on camera' });
    expect(label).not.toBeNull();

    await receiver.waitFor(() => receiver.accepted.length === 4, 10_000, 'upload, snapshot ref and label');
    const upload = receiver.accepted.find((r) => r.path === '/upload/screenshot')!;
    expect(upload.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    const form = upload.raw.toString('latin1');
    expect(form).toContain('name="incident_id"\r\n\r\nSNAP_0');
    expect(form).toContain('name="file"; filename="SNAP_0_screenshot.jpg"');
    expect(upload.raw.includes(jpeg)).toBe(true);
    const snapRef = receiver.accepted.find((r) => r.kind === 'snapshot')!;
    expect(snapRef.body.snapshots[0]).toMatchObject({ bytes: jpeg.length, url: '/incidents/SNAP_0/snapshot' });
    const labelled = receiver.accepted.find((r) => r.kind === 'label')!;
    expect(labelled.key).toBe(`${gw.config.site_id}:SNAP_0:label:1`);
    expect(labelled.body.labels).toEqual([expect.objectContaining({ label: 'confirmed', by: 'operator-1' })]);
  });

  it('keeps to the bandwidth cap', async () => {
    const receiver = new Receiver();
    await receiver.start();
    cleanup.push(() => receiver.stop());
    const rate = 20_000;
    const gw = await setup(upstream(receiver.url, { max_bytes_per_s: rate }));
    await first12(gw);
    const started = Date.now();
    await receiver.waitFor(() => receiver.keys().size === 12, 15_000);
    const bytes = receiver.accepted.reduce((s, r) => s + r.raw.length, 0);
    const elapsed = (Date.now() - started) / 1000;
    // One second's burst, then the rate: it cannot have gone faster than this.
    expect(bytes).toBeGreaterThan(2 * rate);
    expect(elapsed).toBeGreaterThanOrEqual(((bytes - rate) / rate) * 0.9 - 0.3);
  });

  async function first12(gw: TestGateway): Promise<void> {
    // Stored while the transport is paced, in one burst.
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: `BW_${i}`, camera_id: `cam-${i % 3}`, behavior_summary: 'x'.repeat(1500) })),
      ),
    );
  }
});

describe('upstream sync: the daemon killed mid-drain', () => {
  it('loses nothing after a SIGKILL, and resends at most the one batch in flight (collapsed by key)', async () => {
    const receiver = new Receiver();
    await receiver.start();
    receiver.fault = () => ({ delayMs: 2 });
    const dataDir = tempDir();
    const BATCH = 16;
    const env = {
      SAFESPHERE_UPSTREAM_HTTP_ENABLED: 'true',
      SAFESPHERE_UPSTREAM_HTTP_URL: receiver.url,
      SAFESPHERE_UPSTREAM_HTTP_CONCURRENCY: '2',
      SAFESPHERE_UPSTREAM_BATCH_SIZE: String(BATCH),
      SAFESPHERE_UPSTREAM_RETRY_BASE_MS: '20',
      SAFESPHERE_UPSTREAM_RETRY_MAX_MS: '200',
      SAFESPHERE_UPSTREAM_POLL_INTERVAL_MS: '50',
    };
    await receiver.stop(); // the backlog builds up first
    let daemon = await Daemon.start(dataDir, env);
    try {
      const ids: string[] = [];
      for (let i = 0; i < 150; i++) {
        const res = await postJson(`${daemon.httpUrl}/threats/report`, seedReport({ incident_id: `KILL_${i}`, camera_id: `cam-${i % 5}` }));
        expect(res.status).toBe(200);
        ids.push(`KILL_${i}`);
      }
      await receiver.start();
      await receiver.waitFor(() => receiver.keys().size >= 40, 15_000, '40 delivered before the kill');
      await daemon.kill('SIGKILL');
      expect(receiver.keys().size).toBeLessThan(150);

      daemon = await Daemon.start(dataDir, env);
      await receiver.waitFor(() => receiver.keys().size === 150, 20_000, 'all 150 after the restart');
      expect(new Set(receiver.accepted.map((r) => r.incidentId))).toEqual(new Set(ids));
      const duplicates = receiver.accepted.length - receiver.keys().size;
      expect(duplicates).toBeLessThanOrEqual(BATCH);
      expect([...receiver.keys().values()].every((n) => n <= 2)).toBe(true);
    } finally {
      await daemon.kill('SIGKILL');
      await receiver.stop();
    }
  });
});
