// HTTP roles and tokens: 401 without a token, 403 with the wrong role, every role against
// the routes it may and may not use, the trusted networks, /health's two views, the
// generated admin and operator tokens, the metrics token's one route, auth.enabled false on
// every route alike, and the CLI that creates tokens.
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateToken, hashToken } from '../src/security/roles.js';
import { postJson, seedReport, startGateway, type TestGateway } from './helpers.js';
import { ReportedLevelScorer } from '../src/scoring/scorer.js';

const tokens = {
  camera: generateToken('camera'),
  operator: generateToken('operator'),
  sync: generateToken('sync'),
  admin: generateToken('admin'),
};
const authTokens = Object.entries(tokens).map(([role, t]) => ({ name: `${role}-1`, role, sha256: hashToken(t) }));
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

describe('HTTP roles with loopback not trusted', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ auth: { tokens: authTokens, trust_loopback: false } }, { scorer: new ReportedLevelScorer() });
  });
  afterAll(() => gw.stop());

  it('refuses a report without a token (401) and with a malformed or unknown one (401)', async () => {
    const none = await postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: 'A_NONE' }));
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('UNAUTHORIZED');
    expect((await postJson(`${gw.httpUrl}/threats/report`, seedReport(), { authorization: 'Basic abc' })).status).toBe(401);
    expect((await postJson(`${gw.httpUrl}/threats/report`, seedReport(), bearer(generateToken('admin')))).status).toBe(401);
    expect((await get(`${gw.httpUrl}/incidents`)).status).toBe(401);
  });

  it('camera: report yes, read no (403)', async () => {
    const res = await postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: 'A_CAM' }), bearer(tokens.camera));
    expect(res.status).toBe(200);
    const read = await get(`${gw.httpUrl}/incidents`, bearer(tokens.camera));
    expect(read.status).toBe(403);
    expect(read.body.error.code).toBe('FORBIDDEN');
    expect((await get(`${gw.httpUrl}/sync/status`, bearer(tokens.camera))).status).toBe(403);
  });

  it('operator: read and label yes, report and sync no', async () => {
    expect((await get(`${gw.httpUrl}/incidents/A_CAM`, bearer(tokens.operator))).status).toBe(200);
    expect((await get(`${gw.httpUrl}/statistics`, bearer(tokens.operator))).status).toBe(200);
    const label = await postJson(`${gw.httpUrl}/incidents/A_CAM/label`, { label: 'confirmed', by: 'op' }, bearer(tokens.operator));
    expect(label.status).toBe(201);
    expect((await postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: 'A_OP' }), bearer(tokens.operator))).status).toBe(403);
    expect((await get(`${gw.httpUrl}/sync/incidents`, bearer(tokens.operator))).status).toBe(403);
  });

  it('sync: pull and ack yes, read and report no', async () => {
    const pull = await get(`${gw.httpUrl}/sync/incidents?after=0`, bearer(tokens.sync));
    expect(pull.status).toBe(200);
    expect(pull.body.incidents.length).toBeGreaterThan(0);
    expect((await postJson(`${gw.httpUrl}/sync/ack`, { upto: pull.body.next_after }, bearer(tokens.sync))).status).toBe(200);
    expect((await get(`${gw.httpUrl}/incidents`, bearer(tokens.sync))).status).toBe(403);
    expect((await postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: 'A_SY' }), bearer(tokens.sync))).status).toBe(403);
  });

  it('admin: everything', async () => {
    expect((await postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: 'A_ADM' }), bearer(tokens.admin))).status).toBe(200);
    expect((await get(`${gw.httpUrl}/incidents`, bearer(tokens.admin))).status).toBe(200);
    expect((await get(`${gw.httpUrl}/sync/incidents`, bearer(tokens.admin))).status).toBe(200);
    expect((await get(`${gw.httpUrl}/model`, bearer(tokens.admin))).status).toBe(200);
    expect((await get(`${gw.httpUrl}/docs/json`, bearer(tokens.admin))).status).toBe(200);
  });

  it('/health: overall state only without a token, every component with one', async () => {
    const open = await get(`${gw.httpUrl}/health`);
    expect(open.status).toBe(200);
    expect(Object.keys(open.body).sort()).toEqual(['service', 'status', 'timestamp']);
    const full = await get(`${gw.httpUrl}/health`, bearer(tokens.camera));
    expect(full.body.components.db.status).toBe('up');
  });

  it('an unknown URL is a 404 without a token', async () => {
    expect((await get(`${gw.httpUrl}/nope`)).status).toBe(404);
  });

  it('logs each trust switch at start, and the token names but never the tokens', async () => {
    const msgs = gw.logs.lines.map((l) => String(l.msg));
    expect(msgs.some((m) => m.includes('loopback clients need a token'))).toBe(true);
    expect(msgs.some((m) => m.includes('no camera networks trusted'))).toBe(true);
    const text = JSON.stringify(gw.logs.lines);
    for (const t of Object.values(tokens)) expect(text).not.toContain(t);
  });
});

describe('HTTP trust defaults', () => {
  it('loopback (default on) may report and read without a token, not pull', async () => {
    const gw = await startGateway({ sync: { token: tokens.sync } }, { scorer: new ReportedLevelScorer() });
    try {
      expect((await postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: 'L_1' }))).status).toBe(200);
      expect((await get(`${gw.httpUrl}/incidents/L_1`)).status).toBe(200);
      expect((await get(`${gw.httpUrl}/health`)).body.components).toBeDefined();
      expect((await get(`${gw.httpUrl}/sync/incidents`)).status).toBe(401);
      // sync.token still works, now as a token with the sync role.
      expect((await get(`${gw.httpUrl}/sync/incidents`, bearer(tokens.sync))).status).toBe(200);
    } finally {
      await gw.stop();
    }
  });

  it('a camera network may report without a token but not read', async () => {
    const gw = await startGateway({ auth: { trust_loopback: false, camera_networks: ['127.0.0.0/8'] } }, { scorer: new ReportedLevelScorer() });
    try {
      expect((await postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: 'N_1' }))).status).toBe(200);
      expect((await get(`${gw.httpUrl}/incidents/N_1`)).status).toBe(401);
      expect(gw.logs.lines.some((l) => String(l.msg).includes('auth.camera_networks may report'))).toBe(true);
    } finally {
      await gw.stop();
    }
  });

  it('a first start generates an admin token into a 0600 file, logs the path (never the token), and reuses it', async () => {
    const gw = await startGateway({ auth: { trust_loopback: false } }, { scorer: new ReportedLevelScorer() });
    const file = join(gw.dataDir, 'admin-token');
    try {
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const token = readFileSync(file, 'utf8').trim();
      expect(token).toMatch(/^sse_admin_[A-Za-z0-9_-]{43}$/);
      expect(gw.logs.lines.some((l) => l.file === file)).toBe(true);
      expect(JSON.stringify(gw.logs.lines)).not.toContain(token);
      expect((await get(`${gw.httpUrl}/incidents`, bearer(token))).status).toBe(200);
    } finally {
      await gw.gateway.stop();
    }
    const again = await startGateway({ auth: { trust_loopback: false } }, { scorer: new ReportedLevelScorer(), dataDir: gw.dataDir });
    try {
      expect((await get(`${again.httpUrl}/incidents`, bearer(readFileSync(file, 'utf8').trim()))).status).toBe(200);
    } finally {
      await again.stop();
    }
  });

  it('HTTP rate limit per client: 429 with Retry-After beyond the burst', async () => {
    const t = tokens.operator;
    const gw = await startGateway(
      { auth: { tokens: authTokens }, limits: { http_requests_per_s: 5, http_burst: 10, http_exempt_loopback: false } },
      { scorer: new ReportedLevelScorer() },
    );
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 15; i++) statuses.push((await get(`${gw.httpUrl}/statistics`, bearer(t))).status);
      expect(statuses.slice(0, 10).every((s) => s === 200)).toBe(true);
      expect(statuses.slice(10)).toContain(429);
      const limited = await get(`${gw.httpUrl}/statistics`, bearer(t));
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      // Another client (another token) is not affected.
      expect((await get(`${gw.httpUrl}/statistics`, bearer(tokens.admin))).status).toBe(200);
    } finally {
      await gw.stop();
    }
  });
});

describe('one access path for every credential and route', () => {
  it('auth.enabled false opens a sync route, an operator route and /metrics alike', async () => {
    // A sync token and a metrics token are configured and loopback is not trusted: neither matters.
    const gw = await startGateway(
      { auth: { enabled: false, trust_loopback: false }, sync: { token: tokens.sync }, metrics: { enabled: true, token: 'metrics-scraper-token' } },
      { scorer: new ReportedLevelScorer() },
    );
    try {
      expect((await postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: 'OFF_1' }))).status).toBe(200);
      const pull = await get(`${gw.httpUrl}/sync/incidents`);
      expect(pull.status).toBe(200);
      expect((await postJson(`${gw.httpUrl}/sync/ack`, { upto: pull.body.next_after })).status).toBe(200);
      expect((await get(`${gw.httpUrl}/incidents/OFF_1`)).status).toBe(200);
      expect((await get(`${gw.httpUrl}/sync/status`)).status).toBe(200);
      expect((await fetch(`${gw.httpUrl}/metrics`)).status).toBe(200);
      expect((await get(`${gw.httpUrl}/health`)).body.components).toBeDefined();
    } finally {
      await gw.stop();
    }
  });

  it('the metrics token opens /metrics and nothing else', async () => {
    const metricsToken = 'metrics-scraper-token';
    const gw = await startGateway(
      { auth: { tokens: authTokens, trust_loopback: false }, metrics: { enabled: true, token: metricsToken } },
      { scorer: new ReportedLevelScorer() },
    );
    try {
      for (const t of [metricsToken, tokens.operator, tokens.admin]) expect((await fetch(`${gw.httpUrl}/metrics`, { headers: bearer(t) })).status).toBe(200);
      expect((await fetch(`${gw.httpUrl}/metrics`, { headers: bearer(tokens.camera) })).status).toBe(403);
      expect((await get(`${gw.httpUrl}/incidents`, bearer(metricsToken))).status).toBe(401);
      expect(Object.keys((await get(`${gw.httpUrl}/health`, bearer(metricsToken))).body).sort()).toEqual(['service', 'status', 'timestamp']);
    } finally {
      await gw.stop();
    }
  });

  it('without dashboard.operator_token, a first start generates an operator token into a 0600 file and reuses it', async () => {
    const gw = await startGateway({ auth: { trust_loopback: false } }, { scorer: new ReportedLevelScorer() });
    const file = join(gw.dataDir, 'operator-token');
    try {
      expect(gw.gateway.access.operatorTokenFile).toBe(file);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const token = readFileSync(file, 'utf8').trim();
      expect(JSON.stringify(gw.logs.lines)).not.toContain(token);
      expect(gw.gateway.banner()).toContain(file);
      expect((await get(`${gw.httpUrl}/incidents`, bearer(token))).status).toBe(200);
      expect((await fetch(`${gw.httpUrl}/metrics`, { headers: bearer(token) })).status).toBe(200);
      expect((await postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: 'OPT_1' }), bearer(token))).status).toBe(403);
    } finally {
      await gw.gateway.stop();
    }
    const token = readFileSync(file, 'utf8').trim();
    const again = await startGateway({ auth: { trust_loopback: false } }, { scorer: new ReportedLevelScorer(), dataDir: gw.dataDir });
    try {
      expect(readFileSync(file, 'utf8').trim()).toBe(token);
      expect((await get(`${again.httpUrl}/incidents`, bearer(token))).status).toBe(200);
    } finally {
      await again.stop();
    }
  });
});

describe('safesphere-edge --create-token', () => {
  it('prints a token once and the auth.tokens line with its SHA-256', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'src/bin/safesphere-edge.ts', '--create-token', 'camera', '--name', 'cam-7'], {
      encoding: 'utf8',
    });
    const token = out.split('\n')[1]!;
    expect(token).toMatch(/^sse_camera_/);
    expect(out).toContain(`- { name: cam-7, role: camera, sha256: ${hashToken(token)} }`);
    expect(() => execFileSync(process.execPath, ['--import', 'tsx', 'src/bin/safesphere-edge.ts', '--create-token', 'root'], { stdio: 'pipe' })).toThrow();
  });
});
