// Every HTTP route must declare the role it needs (`config: { role }`), including routes
// other features add later: this enumerates every route the running server registered.
// A route without one is served to admin tokens only (fail closed), and fails here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTE_ROLES } from '../src/security/roles.js';
import { ReportedLevelScorer } from '../src/scoring/scorer.js';
import { startGateway, type TestGateway } from './helpers.js';

describe('every HTTP route declares a role', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    // Every optional feature that adds routes on: sync pull, dashboard, metrics, snapshots, AI chat.
    gw = await startGateway(
      { sync: { token: 'route-enumeration-sync-token' }, dashboard: { enabled: true }, metrics: { enabled: true } },
      { scorer: new ReportedLevelScorer() },
    );
  });
  afterAll(() => gw.stop());

  it('lists the routes, and none lacks a role', () => {
    const routes = gw.gateway.get('http')!.routes;
    expect(routes.length).toBeGreaterThan(15);
    for (const url of ['/threats/report', '/incidents', '/health', '/sync/incidents', '/docs']) {
      expect(routes.some((r) => r.url === url), url).toBe(true);
    }
    const missing = routes.filter((r) => r.role === null).map((r) => `${r.method} ${r.url}`);
    expect(missing, 'routes without config.role').toEqual([]);
    for (const r of routes) expect(ROUTE_ROLES, `${r.method} ${r.url}`).toContain(r.role);
  });

  it('only /health (and what the list below names) is public', () => {
    // /notify/ack/: the signed, single-use, expiring token in the path is the credential (a phone has no bearer token).
    const PUBLIC_OK = [/^\/health$/, /^\/$/, /^\/dashboard\//, /^\/notify\/ack\/:token$/];
    const open = gw.gateway.get('http')!.routes.filter((r) => r.role === 'public' && !PUBLIC_OK.some((p) => p.test(r.url)));
    expect(open.map((r) => `${r.method} ${r.url}`)).toEqual([]);
  });
});

describe('a route without a role', () => {
  it('is recorded as such (so the test above fails) and served to admin tokens only', async () => {
    const { default: Fastify } = await import('fastify');
    const { loadConfig } = await import('../src/config/load.js');
    const { createLogger } = await import('../src/logger.js');
    const { AccessControl } = await import('../src/security/access.js');
    const { registerHttpSecurity } = await import('../src/security/http.js');
    const { generateToken, hashToken } = await import('../src/security/roles.js');
    const admin = generateToken('admin');
    const operator = generateToken('operator');
    const config = loadConfig({
      overrides: {
        data_dir: '/nonexistent-never-written',
        auth: { tokens: [{ name: 'a', role: 'admin', sha256: hashToken(admin) }, { name: 'o', role: 'operator', sha256: hashToken(operator) }] },
      },
    });
    const log = createLogger('silent');
    const access = new AccessControl(config, log);
    await access.start();
    const app = Fastify();
    const security = registerHttpSecurity(app, access, config, log);
    app.get('/forgotten', async () => ({ ok: true }));
    await app.ready();
    expect(security.routes.find((r) => r.url === '/forgotten' && r.method === 'GET')?.role).toBeNull();
    // inject() comes from 127.0.0.1: loopback trust (camera, operator) is not enough.
    expect((await app.inject({ url: '/forgotten' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/forgotten', headers: { authorization: `Bearer ${operator}` } })).statusCode).toBe(403);
    expect((await app.inject({ url: '/forgotten', headers: { authorization: `Bearer ${admin}` } })).statusCode).toBe(200);
    await app.close();
  });
});
