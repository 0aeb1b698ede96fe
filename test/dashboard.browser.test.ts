// The guard's screen in a real Chromium (Debian's chromium, playwright-core) against the real
// daemon: log in, a CRITICAL report over MQTT appears on the live timeline within 1 s without
// a reload, its detail shows the uploaded snapshot, "False alarm" stores a label; the page
// rides out a gateway restart and catches up with what it missed. Screenshots go to artifacts/.
import { createServer } from 'node:net';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { ARTIFACTS, launchChromium } from './browser.js';
import sharp from 'sharp';
import { Daemon, reapDaemons } from './daemon.js';
import { connectMqtt, postJson, seedReport, tempDir } from './helpers.js';
import { CAMERA_TOKEN, OPERATOR_TOKEN, SITE, auth, getAuthed } from './ops-fixtures.js';


async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

async function login(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.locator('#login-token').fill(OPERATOR_TOKEN);
  await page.locator('#login-name').fill('guard-1');
  await page.locator('#login-submit').click();
  await page.locator('#conn.up').waitFor({ timeout: 10_000 });
}

async function uploadSnapshot(base: string, incidentId: string): Promise<number> {
  const jpeg = await sharp({ create: { width: 640, height: 360, channels: 3, background: '#5a3b2e' } })
    .composite([{ input: Buffer.from('<svg width="640" height="360"><rect x="260" y="90" width="120" height="220" fill="#d0c080"/></svg>'), top: 0, left: 0 }])
    .jpeg()
    .toBuffer();
  const form = new FormData();
  form.set('incident_id', incidentId);
  form.set('file', new Blob([jpeg], { type: 'image/jpeg' }), 'snapshot.jpg');
  const res = await fetch(`${base}/upload/screenshot`, { method: 'POST', body: form, headers: auth(CAMERA_TOKEN) });
  return res.status;
}

describe('the operator dashboard in Chromium', () => {
  let browser: Browser;
  const dirs: string[] = [];

  const siteDir = () => {
    const dir = tempDir();
    dirs.push(dir);
    // JSON is YAML: the site's map, zones, operator token and a camera token.
    writeFileSync(join(dir, 'site.yaml'), JSON.stringify({ ...SITE, scoring: { enabled: false } }));
    return dir;
  };
  const env = (dir: string, extra: Record<string, string> = {}) => ({ SAFESPHERE_CONFIG: join(dir, 'site.yaml'), ...extra });

  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterEach(async () => {
    await reapDaemons();
  });
  afterAll(async () => {
    await browser?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('log in; a CRITICAL over MQTT is pushed onto the timeline by the live feed; its snapshot; false alarm is stored; every view', async () => {
    const dir = siteDir();
    const daemon = await Daemon.start(dir, env(dir));
    const base = daemon.httpUrl;
    const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
    await page.goto(base);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-login.png') });

    // A wrong token is refused on the page.
    await page.locator('#login-token').fill('not-the-token');
    await page.locator('#login-submit').click();
    await expect.poll(() => page.locator('#login-error').textContent()).toMatch(/not valid/);
    await login(page, base);

    // Some history for the charts and the map: a HIGH in the hall lights it and reroutes.
    for (const [i, cam, level] of [[1, 'cam-2', 'HIGH'], [2, 'cam-3', 'MEDIUM'], [3, 'cam-4', 'LOW']] as const) {
      const r = await postJson(`${base}/threats/report`, seedReport({ incident_id: `HIST_${i}`, camera_id: cam, threat_level: level, weapon_types: [], weapon_detected: false, behavior_summary: 'Loitering near the gate' }), auth(CAMERA_TOKEN));
      expect(r.status).toBe(200);
    }

    const camera = await connectMqtt(daemon.mqttUrl, { clientId: 'cam-1' });
    const id = `INC_DASH_${Date.now()}`;
    // Live means pushed on the open feed: counted (no new socket, no HTTP fetch), not timed.
    const sockets: string[] = [];
    const fetched: string[] = [];
    const onSocket = (ws: { url(): string }) => sockets.push(ws.url());
    const onRequest = (r: { url(): string }) => fetched.push(r.url());
    page.on('websocket', onSocket);
    page.on('request', onRequest);
    await camera.publishAsync('safesphere/cameras/cam-1/threats', JSON.stringify(seedReport({ incident_id: id })), { qos: 1 });
    const row = page.locator(`#timeline li[data-id="${id}"]`);
    await row.waitFor({ timeout: 15_000 });
    page.off('websocket', onSocket);
    page.off('request', onRequest);
    expect(sockets).toEqual([]);
    expect(fetched.filter((u) => u.includes('/incidents'))).toEqual([]);
    await camera.endAsync();
    expect(await row.locator('.badge').textContent()).toBe('CRITICAL');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-live.png') });

    // The snapshot feature (src/evidence/) has landed: upload one, then open the incident.
    expect([200, 201]).toContain(await uploadSnapshot(base, id));
    await row.click();
    await page.locator('#detail h2', { hasText: id }).waitFor({ timeout: 5000 });
    await page.locator('#detail-snapshot').waitFor({ timeout: 5000 });
    expect(await page.locator('#detail-snapshot').evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBeGreaterThan(0);
    await expect.poll(() => page.locator('#detail-actions tr').count()).toBeGreaterThan(5);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-detail.png') });

    await page.locator('#btn-false-alarm').click();
    // The label is stored after its 5 s undo window.
    await page.locator('#detail-labels li', { hasText: 'false alarm by guard-1' }).waitFor({ timeout: 12_000 });
    const stored = await getAuthed(`${base}/incidents/${id}`);
    expect(stored.body.labels).toEqual([expect.objectContaining({ label: 'false_alarm', by: 'guard-1' })]);
    await page.locator('#btn-ack').click();
    await expect.poll(() => page.locator('#detail-status').textContent()).toMatch(/acknowledged by guard-1/);
    // The timeline row shows both, live (they came back over the feed).
    await expect.poll(() => row.textContent()).toMatch(/acknowledged.*false alarm/);

    await page.locator('nav button[data-view="analysis"]').click();
    await page.locator('#chart-timelapse .uplot').waitFor({ timeout: 5000 });
    await page.locator('#chart-hours .uplot').waitFor({ timeout: 5000 });
    expect(await page.locator('#kpis .kpi b').first().textContent()).toBe('4');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-analysis.png'), fullPage: true });

    // Only open incidents light the map: the CRITICAL above is now a false alarm, so a second,
    // open CRITICAL in the lobby is what keeps it lit.
    expect((await postJson(`${base}/threats/report`, seedReport({ incident_id: `${id}_OPEN`, camera_id: 'cam-1' }), auth(CAMERA_TOKEN))).status).toBe(200);
    await page.locator(`#timeline li[data-id="${id}_OPEN"]`).waitFor({ state: 'attached', timeout: 5000 });
    await page.locator('nav button[data-view="map"]').click();
    await page.locator('#route-summary').waitFor({ timeout: 5000 });
    // Lobby (CRITICAL) and hall (HIGH) are lit; the route from the lobby goes south, around the hall.
    expect(await page.locator('circle[data-zone="lobby"]').getAttribute('class')).toContain('t-CRITICAL');
    expect(await page.locator('circle[data-zone="hall"]').getAttribute('class')).toContain('t-HIGH');
    expect(await page.locator('#route-summary').textContent()).toMatch(/south exit/);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-map.png') });

    await page.locator('nav button[data-view="system"]').click();
    await page.locator('.card[data-component="broker"]').waitFor({ timeout: 10_000 });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-system.png'), fullPage: true });

    // A tablet in portrait.
    const tablet = await browser.newPage({ viewport: { width: 768, height: 1024 }, deviceScaleFactor: 1 });
    await login(tablet, base);
    await tablet.locator(`#timeline li[data-id="${id}"]`).click();
    await tablet.locator('#detail h2', { hasText: id }).waitFor({ timeout: 5000 });
    await tablet.screenshot({ path: join(ARTIFACTS, 'dashboard-tablet.png'), fullPage: true });
    // The page (not this file) runs in the browser: reach its globals without DOM typings.
    const overflow = await tablet.evaluate(() => {
      const w = globalThis as unknown as { innerWidth: number; document: { documentElement: { scrollWidth: number } } };
      return w.document.documentElement.scrollWidth - w.innerWidth;
    });
    expect(overflow).toBeLessThanOrEqual(0);

    expect((await daemon.kill('SIGTERM')).code).toBe(0);
  }, 90_000);

  it('rides out a gateway restart and catches up with what it missed', async () => {
    const dir = siteDir();
    const port = await freePort();
    let daemon = await Daemon.start(dir, env(dir, { SAFESPHERE_HTTP_PORT: String(port) }));
    const base = daemon.httpUrl;
    const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
    await login(page, base);
    expect((await postJson(`${base}/threats/report`, seedReport({ incident_id: 'BEFORE_1', camera_id: 'cam-1' }), auth(CAMERA_TOKEN))).status).toBe(200);
    await page.locator('#timeline li[data-id="BEFORE_1"]').waitFor({ timeout: 2000 });

    // The gateway dies.
    await daemon.kill('SIGKILL');
    await page.locator('#conn.down').waitFor({ timeout: 10_000 });

    // While the page cannot reach it, the gateway runs elsewhere on the same store and takes
    // reports, a label and an acknowledgement (the page sees none of it happen).
    const other = await Daemon.start(dir, env(dir));
    for (const n of [1, 2, 3]) {
      expect((await postJson(`${other.httpUrl}/threats/report`, seedReport({ incident_id: `MISSED_${n}`, camera_id: 'cam-2', threat_level: 'HIGH' }), auth(CAMERA_TOKEN))).status).toBe(200);
    }
    expect((await postJson(`${other.httpUrl}/incidents/BEFORE_1/label`, { label: 'confirmed', by: 'night-shift' }, auth())).status).toBe(201);
    expect((await postJson(`${other.httpUrl}/incidents/MISSED_2/resolve`, { by: 'night-shift' }, auth())).status).toBe(200);
    expect((await other.kill('SIGTERM')).code).toBe(0);

    // Back on its port: the page reconnects by itself and catches up, without a reload.
    daemon = await Daemon.start(dir, env(dir, { SAFESPHERE_HTTP_PORT: String(port) }));
    await page.locator('#conn.up').waitFor({ timeout: 15_000 });
    for (const n of [1, 2, 3]) await page.locator(`#timeline li[data-id="MISSED_${n}"]`).waitFor({ timeout: 5000 });
    await expect.poll(() => page.locator('#timeline li[data-id="BEFORE_1"]').textContent()).toMatch(/confirmed/);
    await expect.poll(() => page.locator('#timeline li[data-id="MISSED_2"]').textContent()).toMatch(/resolved/);
    // Nothing twice.
    expect(await page.locator('#timeline li').count()).toBe(4);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-after-restart.png') });
    expect((await daemon.kill('SIGTERM')).code).toBe(0);
  }, 90_000);
});
