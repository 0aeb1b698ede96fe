// Node-RED's login is per client, against the real daemon with Node-RED on: wrong passwords
// from other addresses (more than Node-RED's own per-username limit of five) neither lock the
// installer out nor reach Node-RED; the attacking address gets 429 with Retry-After. The
// editor listens on loopback by default, and also on nodered.lan_host when one is named.
import { rmSync } from 'node:fs';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { Daemon, reapDaemons } from './daemon.js';
import { tempDir } from './helpers.js';
import { httpFrom } from './wire.js';

const PASSWORD = 'installer-secret-pw';

describe('the Node-RED editor login, per client', () => {
  let daemon: Daemon;
  let dataDir: string;
  const login = (password: string, localAddress: string, port = daemon.noderedPort, host = '127.0.0.1') =>
    httpFrom(`http://${host}:${port}/auth/token`, {
      body: JSON.stringify({ client_id: 'node-red-editor', grant_type: 'password', scope: '*', username: 'installer', password }),
      localAddress,
    });

  beforeAll(async () => {
    dataDir = tempDir('safesphere-nrlogin-');
    daemon = await Daemon.start(
      dataDir,
      {
        SAFESPHERE_NODERED_ENABLED: 'true',
        SAFESPHERE_NODERED_ADMIN_USERS: JSON.stringify([{ username: 'installer', password_hash: bcrypt.hashSync(PASSWORD, 8), permissions: '*' }]),
        SAFESPHERE_NODERED_LAN_HOST: '127.0.0.5',
        // Long enough that a loaded machine cannot outwait it between two requests.
        SAFESPHERE_LIMITS_AUTH_DELAY_BASE_MS: '10000',
      },
      60_000,
    );
  }, 90_000);
  afterAll(async () => {
    await reapDaemons();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('defaults the editor to loopback', () => {
    expect(loadConfig({ overrides: {} }).nodered.host).toBe('127.0.0.1');
    expect(loadConfig({ overrides: {} }).nodered.lan_host).toBe('');
  });

  it('lets the installer in during a wrong-password flood from other addresses; the attacker gets 429', async () => {
    const statuses = new Map<string, number[]>();
    // Seven addresses, four wrong passwords each: 28 failures for "installer".
    for (let a = 2; a <= 8; a++) {
      const from = `127.0.0.${a}`;
      for (let i = 0; i < 4; i++) statuses.set(from, [...(statuses.get(from) ?? []), (await login(`wrong-${i}`, from)).status]);
    }
    for (const [, s] of statuses) expect(s).toEqual([403, 403, 403, 429]);
    // The right password from the address just throttled waits out its delay too (per address)...
    const blocked = await login(PASSWORD, '127.0.0.8');
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // ...and the installer's own address is not locked: Node-RED never saw the wrong ones.
    const ok = await login(PASSWORD, '127.0.0.1');
    expect(ok.status).toBe(200);
    expect(typeof ok.body.access_token).toBe('string');
    const flows = await httpFrom(`http://127.0.0.1:${daemon.noderedPort}/flows`, { headers: { authorization: `Bearer ${ok.body.access_token}` } });
    expect(flows.status).toBe(200);
    expect(daemon.lines.some((l) => String(l.msg).includes('Too many login attempts'))).toBe(false);
  }, 60_000);

  it('serves the same editor on nodered.lan_host', async () => {
    const listening = daemon.lines.find((l) => l.msg === 'node-red editor listening')!;
    expect(listening.host).toBe('127.0.0.1');
    expect(listening.lan_host).toBe('127.0.0.5');
    const res = await login(PASSWORD, '127.0.0.9', listening.lan_port as number, '127.0.0.5');
    expect(res.status).toBe(200);
  });
});
