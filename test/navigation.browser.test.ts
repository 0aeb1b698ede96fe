// The dashboard's Site map follows /ws/navigation in a real Chromium against the real daemon:
// the highlighted route moves around a CRITICAL in the hall without a reload, and back when
// the incident is resolved.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { ARTIFACTS, launchChromium } from './browser.js';
import { Daemon, reapDaemons } from './daemon.js';
import { postJson, seedReport, tempDir } from './helpers.js';
import { CAMERA_TOKEN, OPERATOR_TOKEN, SITE, auth } from './ops-fixtures.js';

describe('the Site map in Chromium', () => {
  let browser: Browser;
  let daemon: Daemon;
  let dir: string;

  beforeAll(async () => {
    dir = tempDir();
    writeFileSync(join(dir, 'site.yaml'), JSON.stringify({ ...SITE, scoring: { enabled: false } }));
    [browser, daemon] = await Promise.all([launchChromium(), Daemon.start(dir, { SAFESPHERE_CONFIG: join(dir, 'site.yaml') })]);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await reapDaemons();
    rmSync(dir, { recursive: true, force: true });
  });

  it('moves the highlighted route live', async () => {
    const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
    await page.goto(daemon.httpUrl);
    await page.locator('#login-token').fill(OPERATOR_TOKEN);
    await page.locator('#login-submit').click();
    await page.locator('#conn.up').waitFor({ timeout: 10_000 });
    await page.locator('nav button[data-view="map"]').click();
    const summary = page.locator('#route-summary');
    await expect.poll(() => summary.textContent(), { timeout: 10_000 }).toMatch(/north exit/);
    const line = page.locator('#site-map polyline.route');
    const viaHall = await line.getAttribute('points');

    const report = seedReport({ incident_id: 'NAV_UI_1', camera_id: 'cam-2', threat_level: 'CRITICAL', weapon_detected: false, weapon_types: [] });
    expect((await postJson(`${daemon.httpUrl}/threats/report`, report, auth(CAMERA_TOKEN))).status).toBe(200);
    await expect.poll(() => summary.textContent(), { timeout: 10_000 }).toMatch(/south exit/);
    expect(await summary.getAttribute('data-reason')).toBe('incident');
    expect(await page.locator('#site-map polyline.route').count()).toBe(1);
    expect(await line.getAttribute('points')).not.toBe(viaHall);
    await page.screenshot({ path: join(ARTIFACTS, 'navigation-map-rerouted.png') });

    expect((await postJson(`${daemon.httpUrl}/incidents/NAV_UI_1/resolve`, { by: 'guard-1' }, auth())).status).toBe(200);
    await expect.poll(() => summary.textContent(), { timeout: 10_000 }).toMatch(/north exit/);
    expect(await summary.getAttribute('data-reason')).toBe('resolved');
    expect(await line.getAttribute('points')).toBe(viaHall);
  }, 60_000);
});
