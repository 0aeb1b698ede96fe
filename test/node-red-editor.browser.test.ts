// The installer's view: the Node-RED editor in a real Chromium (Debian's chromium, driven
// by playwright-core). Log in, find the SafeSphere nodes, edit a flow, deploy, restart the
// daemon, and find the edit still there. Screenshots go to artifacts/.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { ARTIFACTS, launchChromium } from './browser.js';
import { Daemon, reapDaemons } from './daemon.js';
import { tempDir } from './helpers.js';


async function login(page: Page, url: string, password: string): Promise<void> {
  await page.goto(url);
  await page.locator('#node-dialog-login-username').fill('admin');
  await page.locator('#node-dialog-login-password').fill(password);
  await page.locator('#node-dialog-login-submit').click();
  await page.locator('#red-ui-workspace-chart').waitFor({ timeout: 20_000 });
  await page.locator('.red-ui-flow-node-group').first().waitFor({ timeout: 20_000 });
}

describe('the Node-RED editor in Chromium', () => {
  let browser: Browser;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = tempDir();
    browser = await launchChromium();
  });
  afterEach(async () => {
    await reapDaemons();
  });
  afterAll(async () => {
    await browser?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('logs in, shows the SafeSphere palette, deploys an edit that survives a restart', async () => {
    const env = { SAFESPHERE_NODERED_ENABLED: 'true' };
    let daemon = await Daemon.start(dataDir, env, 40_000);
    const password = /^password:\s*(\S+)/m.exec(readFileSync(join(dataDir, 'node-red-admin-password'), 'utf8'))![1]!;
    const editorUrl = `http://127.0.0.1:${daemon.noderedPort}/`;

    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    // Without a login the editor shows its login dialog, not the flows.
    await page.goto(editorUrl);
    await expect(page.locator('#node-dialog-login-username')).toBeDefined();
    await page.locator('#node-dialog-login-username').waitFor({ timeout: 20_000 });
    await login(page, editorUrl, password);

    for (const type of ['safesphere action', 'safesphere action result', 'safesphere incident', 'safesphere publish', 'safesphere arming']) {
      await page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`).waitFor({ state: 'attached', timeout: 10_000 });
    }
    const category = page.locator('#red-ui-palette-container-SafeSphere, #red-ui-palette-container-safesphere');
    expect(await category.count()).toBe(1);
    await page.screenshot({ path: join(ARTIFACTS, 'node-red-editor.png') });

    // Edit the siren node's name in its edit dialog, then deploy.
    await page.locator('.red-ui-flow-node-group', { hasText: 'siren actions' }).first().dblclick();
    const name = page.locator('#node-input-name');
    await name.waitFor({ timeout: 10_000 });
    await name.fill('gate siren actions');
    await page.locator('#node-dialog-ok').click();
    await page.locator('#red-ui-header-button-deploy').click();
    await page.locator('.red-ui-notification', { hasText: /deployed/i }).first().waitFor({ timeout: 15_000 });
    await page.screenshot({ path: join(ARTIFACTS, 'node-red-deployed.png') });
    expect(readFileSync(join(dataDir, 'node-red', 'flows.json'), 'utf8')).toContain('gate siren actions');

    // Restart the daemon: the installer's edit is still there, not re-seeded.
    expect((await daemon.kill('SIGTERM')).code).toBe(0);
    daemon = await Daemon.start(dataDir, env, 40_000);
    const page2 = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await login(page2, `http://127.0.0.1:${daemon.noderedPort}/`, password);
    await page2.locator('.red-ui-flow-node-group', { hasText: 'gate siren actions' }).first().waitFor({ timeout: 10_000 });
    await page2.screenshot({ path: join(ARTIFACTS, 'node-red-after-restart.png') });
    expect(await daemon.kill('SIGTERM')).toMatchObject({ code: 0 });
  }, 120_000);
});
