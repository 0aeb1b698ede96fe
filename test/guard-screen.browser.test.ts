// The guard's screen (issue 17) in Debian's Chromium against the real daemon, asserted rather
// than looked at: a CRITICAL rings (AudioContext instrumented by an init script), flashes the
// title and holds a banner until acknowledged; mute stops the sound and it comes back when the
// time runs out (Playwright's clock, no sleeps); states render distinctly; a label has a 5 s
// undo and is not stored twice; at 768 px nothing overflows and the detail is in view after a
// tap; no console errors or failed requests in normal use. Screenshots of every view at 1400
// and 768 px go to SCREENSHOTS (not committed).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ARTIFACTS, launchChromium } from './browser.js';
import { Daemon, reapDaemons } from './daemon.js';
import { postJson, seedReport, tempDir } from './helpers.js';
import { CAMERA_TOKEN, OPERATOR_TOKEN, SITE, auth, getAuthed } from './ops-fixtures.js';

const SCREENSHOTS = process.env.SCREENSHOT_DIR ?? join(ARTIFACTS, 'guard-screen');
const BASE_TITLE = 'SafeSphere Edge — operations';

// Runs in the page before its scripts: records every oscillator and whether it is running, and
// every Notification shown.
const INSTRUMENT = `(() => {
  const w = window;
  w.__osc = [];
  const AC = w.AudioContext;
  const create = AC.prototype.createOscillator;
  AC.prototype.createOscillator = function () {
    const o = create.call(this);
    const rec = { type: null, started: false, stopped: false };
    w.__osc.push(rec);
    const start = o.start.bind(o), stop = o.stop.bind(o);
    o.start = (...a) => { rec.started = true; rec.type = o.type; return start(...a); };
    o.stop = (...a) => { rec.stopped = true; return stop(...a); };
    return o;
  };
  w.__running = () => w.__osc.filter((r) => r.started && !r.stopped).map((r) => r.type);
  w.__notes = [];
  if (w.Notification) {
    const N = w.Notification;
    w.Notification = class extends N { constructor(title, opts) { super(title, opts); w.__notes.push(title); } };
  }
})();`;

interface Watch {
  problems: string[];
}
/** Console errors and failed responses: none is allowed in normal use. */
function watch(page: Page): Watch {
  const w: Watch = { problems: [] };
  page.on('console', (m) => {
    if (m.type() === 'error') w.problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => w.problems.push(`pageerror: ${e.message}`));
  page.on('response', (r) => {
    if (r.status() >= 400) w.problems.push(`${r.status()} ${r.url()}`);
  });
  page.on('requestfailed', (r) => {
    // A route stream closed on a view change is not a failure.
    if (!r.url().includes('/ws/')) w.problems.push(`failed ${r.url()}`);
  });
  return w;
}

async function login(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.locator('#login-token').fill(OPERATOR_TOKEN);
  await page.locator('#login-name').fill('guard-1');
  await page.locator('#login-submit').click();
  await page.locator('#conn.up').waitFor({ timeout: 10_000 });
}

const running = (page: Page) => page.evaluate(() => (globalThis as unknown as { __running(): string[] }).__running());
const noOverflow = (page: Page) =>
  page.evaluate(() => {
    const d = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document.documentElement;
    return d.scrollWidth <= d.clientWidth ? 'ok' : `${d.scrollWidth} > ${d.clientWidth}`;
  });

describe('the guard screen in Chromium', () => {
  let browser: Browser;
  const dirs: string[] = [];
  const contexts: BrowserContext[] = [];

  const start = async () => {
    const dir = tempDir();
    dirs.push(dir);
    writeFileSync(join(dir, 'site.yaml'), JSON.stringify({ ...SITE, scoring: { enabled: false } }));
    return Daemon.start(dir, { SAFESPHERE_CONFIG: join(dir, 'site.yaml') });
  };
  const open = async (width: number, height: number) => {
    const context = await browser.newContext({ viewport: { width, height }, deviceScaleFactor: 1 });
    contexts.push(context);
    await context.addInitScript(INSTRUMENT);
    const page = await context.newPage();
    // Timers and Date under Playwright's clock: it runs in real time until a test jumps it.
    await page.clock.install();
    return page;
  };
  const report = async (base: string, fields: Record<string, unknown>) =>
    expect((await postJson(`${base}/threats/report`, seedReport(fields), auth(CAMERA_TOKEN))).status).toBe(200);

  beforeAll(async () => {
    browser = await launchChromium();
    mkdirSync(SCREENSHOTS, { recursive: true });
  });
  afterEach(async () => {
    for (const c of contexts.splice(0)) await c.close();
    await reapDaemons();
  });
  afterAll(async () => {
    await browser?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('a CRITICAL rings, flashes the title and holds the banner until acknowledged; mute counts down and the sound returns', async () => {
    const daemon = await start();
    const base = daemon.httpUrl;
    const page = await open(1400, 900);
    const w = watch(page);
    await login(page, base);
    expect(await page.title()).toBe(BASE_TITLE);
    expect(await running(page)).toEqual([]);
    expect(await page.locator('#alarm-banner').isVisible()).toBe(false);

    await report(base, { incident_id: 'ALARM_C1', camera_id: 'cam-1', threat_level: 'CRITICAL' });
    await expect.poll(() => page.title()).toMatch(/^(⚠ )?\(1\) CRITICAL · SafeSphere$/);
    await page.locator('#alarm-banner').waitFor();
    expect(await page.locator('#alarm-count').textContent()).toBe('1 open alarm');
    // CRITICAL's pattern: a square wave.
    await expect.poll(() => running(page)).toEqual(['square']);
    expect(await page.locator('#audio-blocked').count()).toBe(0);
    await page.screenshot({ path: join(SCREENSHOTS, 'alarm-1400.png') });

    // Mute: silence, a visible countdown; the banner and title stay.
    await page.locator('#alarm-mute').click();
    await expect.poll(() => running(page)).toEqual([]);
    expect(await page.locator('#mute-countdown').textContent()).toMatch(/sound muted, [12]:\d\d left/);
    expect(await page.locator('#alarm-banner').isVisible()).toBe(true);
    await page.clock.fastForward('01:00');
    await expect.poll(() => page.locator('#mute-countdown').textContent()).toMatch(/sound muted, [01]:\d\d left/);
    expect(await running(page)).toEqual([]);
    // When the mute runs out the alarm rings again (nobody took it).
    await page.clock.fastForward('01:05');
    await expect.poll(() => running(page)).toEqual(['square']);
    expect(await page.locator('#mute-countdown').count()).toBe(0);

    // A HIGH on top: two open alarms, CRITICAL first.
    await report(base, { incident_id: 'ALARM_H1', camera_id: 'cam-2', threat_level: 'HIGH', weapon_detected: false, weapon_types: [] });
    await expect.poll(() => page.title()).toMatch(/\(2\) CRITICAL · SafeSphere$/);
    expect(await page.locator('#alarm-count').textContent()).toBe('2 open alarms');

    // Acknowledge from the banner: the CRITICAL is taken; the HIGH rings with its own pattern.
    await page.locator('#alarm-ack').click();
    await expect.poll(() => page.title()).toMatch(/\(1\) HIGH · SafeSphere$/);
    await expect.poll(() => running(page)).toEqual(['sine']);
    // Acknowledge from the keyboard: all three stop.
    await page.locator('body').press('a');
    await expect.poll(() => page.title()).toBe(BASE_TITLE);
    await expect.poll(() => running(page)).toEqual([]);
    expect(await page.locator('#alarm-banner').isVisible()).toBe(false);
    for (const id of ['ALARM_C1', 'ALARM_H1']) {
      const stored = await getAuthed(`${base}/api/incidents/${id}`);
      expect(stored.body.operator_status).toMatchObject({ state: 'acknowledged', acknowledged_by: 'guard-1' });
    }
    // The live region announced them.
    expect(await page.locator('#announcer').getAttribute('aria-live')).toBe('polite');

    // A hidden tab gets a browser notification.
    await page.context().grantPermissions(['notifications'], { origin: base });
    await page.evaluate(() => Object.defineProperty((globalThis as unknown as { document: object }).document, 'hidden', { configurable: true, get: () => true }));
    await report(base, { incident_id: 'ALARM_C2', camera_id: 'cam-3', threat_level: 'CRITICAL' });
    await expect.poll(() => page.evaluate(() => (globalThis as unknown as { __notes: string[] }).__notes)).toEqual(['CRITICAL · SafeSphere']);

    expect(w.problems).toEqual([]);
  }, 90_000);

  it('states at a glance, label undo and no second identical label, tablet layout, the other issues\' places, every view at 1400 and 768 px', async () => {
    const daemon = await start();
    const base = daemon.httpUrl;
    // One incident in each state; MEDIUM/LOW ones do not ring.
    await report(base, { incident_id: 'S_OPEN', camera_id: 'cam-2', threat_level: 'HIGH', weapon_detected: false, weapon_types: [] });
    await report(base, { incident_id: 'S_ACK', camera_id: 'cam-3', threat_level: 'HIGH', weapon_detected: false, weapon_types: [] });
    await report(base, { incident_id: 'S_FALSE', camera_id: 'cam-4', threat_level: 'CRITICAL' });
    await report(base, { incident_id: 'S_RESOLVED', camera_id: 'cam-1', threat_level: 'MEDIUM', weapon_detected: false, weapon_types: [], behavior_summary: undefined });
    expect((await postJson(`${base}/incidents/S_ACK/acknowledge`, { by: 'night-shift' }, auth())).status).toBe(200);
    expect((await postJson(`${base}/incidents/S_FALSE/label`, { label: 'false_alarm', by: 'night-shift' }, auth())).status).toBe(201);
    expect((await postJson(`${base}/incidents/S_RESOLVED/resolve`, { by: 'night-shift' }, auth())).status).toBe(200);

    const page = await open(1400, 900);
    const w = watch(page);
    await login(page, base);
    const row = (id: string) => page.locator(`#timeline li[data-id="${id}"]`);
    await row('S_RESOLVED').waitFor();
    const look = (id: string) =>
      row(id).evaluate((li) => {
        const cs = (globalThis as unknown as { getComputedStyle(e: unknown): { opacity: string; backgroundColor: string } }).getComputedStyle;
        const e = li as unknown as { dataset: { state: string }; querySelector(s: string): unknown; textContent: string };
        return { state: e.dataset.state, opacity: cs(li).opacity, tag: (e.querySelector('.tags') as { textContent: string }).textContent, badge: cs(e.querySelector('.badge')).backgroundColor };
      });
    const open_ = await look('S_OPEN'), ack = await look('S_ACK'), fa = await look('S_FALSE'), res = await look('S_RESOLVED');
    expect([open_.state, ack.state, fa.state, res.state]).toEqual(['open', 'acknowledged', 'false_alarm', 'resolved']);
    expect(open_.tag).toBe('open');
    expect(ack.tag).toBe('acknowledged');
    expect(fa.tag).toBe('false alarm');
    expect(res.tag).toBe('resolved');
    // Done is muted; open and acknowledged are not.
    expect([open_.opacity, ack.opacity]).toEqual(['1', '1']);
    expect(Number(fa.opacity)).toBeLessThan(1);
    expect(Number(res.opacity)).toBeLessThan(1);
    // A false alarm no longer wears its level's colour.
    expect(fa.badge).not.toBe('rgb(248, 81, 73)');
    // Only the open HIGH rings.
    await expect.poll(() => page.title()).toMatch(/\(1\) HIGH · SafeSphere$/);

    // Label with undo: nothing is stored when undone, within the window.
    await row('S_OPEN').click();
    await page.locator('#detail-title', { hasText: 'S_OPEN' }).waitFor();
    // Scores as percentages; no snapshot request for an incident without one.
    expect(await page.locator('#detail dl').textContent()).toMatch(/87% \(camera said HIGH 87%\)/);
    await page.locator('#btn-false-alarm').click();
    await page.locator('#btn-undo').waitFor();
    expect(await page.locator('#label-undo').textContent()).toMatch(/will be saved in [45] s/);
    await page.locator('#btn-undo').click();
    await page.clock.fastForward(6000);
    expect((await getAuthed(`${base}/incidents/S_OPEN`)).body.labels).toEqual([]);
    // Again, left alone: stored once after the window; the button then refuses a second one.
    await page.locator('#btn-false-alarm').click();
    await page.clock.fastForward(6000);
    await page.locator('#detail-labels li', { hasText: 'false alarm by guard-1' }).waitFor();
    expect((await getAuthed(`${base}/incidents/S_OPEN`)).body.labels).toEqual([expect.objectContaining({ label: 'false_alarm', by: 'guard-1' })]);
    const fab = page.locator('#btn-false-alarm');
    expect(await fab.isDisabled()).toBe(true);
    expect(await fab.textContent()).toBe('Marked false alarm');
    // The detail re-renders when the label comes back over the feed: read the live button.
    const disabledLook = () => fab.evaluate((b) => {
      const cs = (globalThis as unknown as { getComputedStyle(e: unknown): { opacity: string; cursor: string } }).getComputedStyle(b);
      return `${Number(cs.opacity) < 0.6 ? 'dim' : cs.opacity} ${cs.cursor}`;
    });
    await expect.poll(disabledLook).toBe('dim not-allowed');
    // The false alarm takes the alarm away.
    await expect.poll(() => page.title()).toBe(BASE_TITLE);
    await expect.poll(() => row('S_OPEN').getAttribute('data-state')).toBe('false_alarm');

    // What the delivery and arming issues add, now on this gateway: who was told, and the mode switch.
    expect(await page.locator('#detail-deliveries h3').textContent()).toBe('Who was told');
    expect(await page.locator('#detail-escalation').count()).toBe(1);
    expect(await page.locator('#deliveries-unavailable').count()).toBe(0);
    await page.locator('#arming-mode').waitFor();
    expect(await page.locator('#arming-unavailable').count()).toBe(0);
    // A fresh open one for the map and the screenshots.
    await report(base, { incident_id: 'S_OPEN2', camera_id: 'cam-2', threat_level: 'HIGH', weapon_detected: false, weapon_types: [] });
    await row('S_OPEN2').click();
    await page.locator('#detail-title', { hasText: 'S_OPEN2' }).waitFor();
    await page.screenshot({ path: join(SCREENSHOTS, 'live-1400.png') });

    // Site map: only open incidents are active threats.
    await page.locator('nav button[data-view="map"]').click();
    await page.locator('#route-summary').waitFor();
    expect(await page.locator('#active-list li').evaluateAll((ls) => ls.map((l) => (l as unknown as { dataset: { id: string } }).dataset.id))).toEqual(['S_OPEN2']);
    expect((await page.locator('#handled-list li').evaluateAll((ls) => ls.map((l) => (l as unknown as { dataset: { id: string } }).dataset.id))).sort()).toEqual(['S_ACK', 'S_FALSE', 'S_OPEN']);
    expect(await page.locator('circle[data-zone="hall"]').getAttribute('class')).toContain('t-HIGH');
    expect(await page.locator('circle[data-zone="north"]').getAttribute('class')).not.toContain('t-');
    await page.screenshot({ path: join(SCREENSHOTS, 'map-1400.png') });
    await page.locator('nav button[data-view="analysis"]').click();
    await page.locator('#chart-hours .uplot').waitFor();
    await page.screenshot({ path: join(SCREENSHOTS, 'analysis-1400.png'), fullPage: true });
    await page.locator('nav button[data-view="system"]').click();
    await page.locator('.card[data-component="broker"]').waitFor({ timeout: 10_000 });
    const system = (await page.locator('#health').textContent()) ?? '';
    expect(system).toContain('MQTT broker');
    expect(system).not.toMatch(/\{\}|\[\]|\b(true|false)\b|\d{4}-\d\d-\d\dT/);
    await page.screenshot({ path: join(SCREENSHOTS, 'system-1400.png'), fullPage: true });

    // The tablet, portrait.
    const tablet = await open(768, 1024);
    const tw = watch(tablet);
    await login(tablet, base);
    await tablet.locator('#timeline li[data-id="S_OPEN2"]').waitFor();
    expect(await noOverflow(tablet)).toBe('ok');
    await tablet.screenshot({ path: join(SCREENSHOTS, 'live-768.png'), fullPage: true });
    // Tap an incident far down the list: its detail is in view.
    await tablet.locator('#timeline li[data-id="S_RESOLVED"]').tap().catch(() => tablet.locator('#timeline li[data-id="S_RESOLVED"]').click());
    await tablet.locator('#detail-title', { hasText: 'S_RESOLVED' }).waitFor();
    await expect.poll(() => tablet.locator('#detail').evaluate((d) => {
      const r = (d as unknown as { getBoundingClientRect(): { left: number; top: number; right: number; width: number } }).getBoundingClientRect();
      const g = globalThis as unknown as { innerWidth: number };
      return r.left >= 0 && r.top >= 0 && r.right <= g.innerWidth && r.width > 300;
    })).toBe(true);
    expect(await noOverflow(tablet)).toBe('ok');
    // No dangling separator for an incident without a behaviour.
    expect(await tablet.locator('#timeline li[data-id="S_RESOLVED"] .meta').textContent()).not.toMatch(/·\s*$/);
    await tablet.screenshot({ path: join(SCREENSHOTS, 'detail-768.png') });
    // Touch targets stay >= 44 px.
    const small = await tablet.locator('#detail button, header button, .alarm-banner button').evaluateAll((bs) =>
      bs.filter((b) => { const r = (b as unknown as { getBoundingClientRect(): { height: number; width: number } }).getBoundingClientRect(); return r.width > 0 && (r.height < 44 || r.width < 44); }).length);
    expect(small).toBe(0);
    await tablet.keyboard.press('Escape');
    await expect.poll(() => tablet.locator('#detail').evaluate((d) => (d as unknown as { classList: { contains(c: string): boolean } }).classList.contains('open'))).toBe(false);

    for (const view of ['analysis', 'map', 'system'] as const) {
      await tablet.locator(`nav button[data-view="${view}"]`).click();
      if (view === 'analysis') await tablet.locator('#chart-hours .uplot').waitFor();
      if (view === 'map') await tablet.locator('#route-summary').waitFor();
      if (view === 'system') await tablet.locator('.card[data-component="broker"]').waitFor({ timeout: 10_000 });
      expect(await noOverflow(tablet), view).toBe('ok');
      await tablet.screenshot({ path: join(SCREENSHOTS, `${view}-768.png`), fullPage: true });
    }
    // Analysis is one column at 768 px: the charts stack.
    await tablet.locator('nav button[data-view="analysis"]').click();
    const xs = await tablet.locator('.charts figure, .tables > div').evaluateAll((fs) => fs.map((f) => Math.round((f as unknown as { getBoundingClientRect(): { left: number } }).getBoundingClientRect().left)));
    expect(new Set(xs).size).toBe(1);

    expect(w.problems).toEqual([]);
    expect(tw.problems).toEqual([]);
  }, 120_000);
});
