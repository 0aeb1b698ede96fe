// Secrets from the environment, from files and from systemd credentials
// ($CREDENTIALS_DIRECTORY, LoadCredential=) reach the real daemon and work, and none of them
// ever appears in its output: this scans every log line (at debug level) and stderr for
// each configured secret after exercising the paths that log (bad tokens, bad passwords,
// a failing upstream that gets the token).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { generateToken } from '../src/security/roles.js';
import { Daemon, reapDaemons } from './daemon.js';
import { seedReport, tempDir } from './helpers.js';

describe('secrets', () => {
  const dir = tempDir('safesphere-secrets-');
  afterAll(async () => {
    await reapDaemons();
    rmSync(dir, { recursive: true, force: true });
  });

  it('are read from env, files and $CREDENTIALS_DIRECTORY, work, and are never logged', async () => {
    const secrets = {
      admin: generateToken('admin'), // systemd credential
      sync: generateToken('sync'), // environment
      upstream: `upstream-${generateToken('sync')}`, // file
      operator: generateToken('operator'), // environment (dashboard.operator_token)
      mqttPassword: `cam-pw-${generateToken('camera').slice(-20)}`, // hashed in config; the client sends it
      aiKey: `AIza${generateToken('admin').slice(-35)}`,
    };
    const creds = join(dir, 'credentials');
    mkdirSync(creds);
    writeFileSync(join(creds, 'admin-token'), `${secrets.admin}\n`, { mode: 0o600 });
    const upstreamFile = join(dir, 'upstream.token');
    writeFileSync(upstreamFile, secrets.upstream, { mode: 0o600 });

    const daemon = await Daemon.start(join(dir, 'data'), {
      SAFESPHERE_LOG_LEVEL: 'debug',
      CREDENTIALS_DIRECTORY: creds,
      SAFESPHERE_AUTH_ADMIN_TOKEN_FILE: 'credential:admin-token',
      SAFESPHERE_AUTH_TRUST_LOOPBACK: 'false',
      SAFESPHERE_SYNC_TOKEN: secrets.sync,
      SAFESPHERE_DASHBOARD_OPERATOR_TOKEN: secrets.operator,
      SAFESPHERE_AI_API_KEY: secrets.aiKey,
      SAFESPHERE_UPSTREAM_HTTP_ENABLED: 'true',
      SAFESPHERE_UPSTREAM_HTTP_URL: 'http://127.0.0.1:9',
      SAFESPHERE_UPSTREAM_HTTP_TOKEN_FILE: upstreamFile,
      SAFESPHERE_MQTT_ALLOW_ANONYMOUS_LOOPBACK: 'false',
      SAFESPHERE_MQTT_ACCOUNTS: JSON.stringify([{ username: 'cam-s', role: 'camera', password_hash: bcrypt.hashSync(secrets.mqttPassword, 4) }]),
    });
    const auth = (t: string) => ({ authorization: `Bearer ${t}` });
    const url = daemon.httpUrl;

    // Each works.
    const report = await fetch(`${url}/threats/report`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth(secrets.admin) }, body: JSON.stringify(seedReport({ incident_id: 'SEC_1', camera_id: 'cam-s' })) });
    expect(report.status).toBe(200);
    await report.arrayBuffer();
    const pull = await fetch(`${url}/sync/incidents`, { headers: auth(secrets.sync) });
    expect(pull.status).toBe(200);
    await pull.arrayBuffer();
    const read = await fetch(`${url}/incidents/SEC_1`, { headers: auth(secrets.operator) });
    expect(read.status).toBe(200);
    await read.arrayBuffer();
    const cam = await mqtt.connectAsync(daemon.mqttUrl, { username: 'cam-s', password: secrets.mqttPassword, reconnectPeriod: 0 });
    await cam.publishAsync('safesphere/cameras/cam-s/threats', JSON.stringify(seedReport({ incident_id: 'SEC_2' })), { qos: 1 });
    await cam.endAsync();

    // The paths that log: a secret used for the wrong role, as a wrong password, in a URL.
    for (const t of [secrets.sync, secrets.upstream, secrets.aiKey]) {
      const r = await fetch(`${url}/incidents?access_token=${encodeURIComponent(t)}`, { headers: auth(t) });
      expect([401, 403]).toContain(r.status);
      await r.arrayBuffer();
    }
    await expect(mqtt.connectAsync(daemon.mqttUrl, { username: 'cam-s', password: secrets.admin, reconnectPeriod: 0 })).rejects.toThrow();
    await expect(mqtt.connectAsync(daemon.mqttUrl, { username: 'nobody', password: secrets.mqttPassword, reconnectPeriod: 0 })).rejects.toThrow();
    // Let the upstream push fail a few times with its token (connection refused on port 9).
    await new Promise((r) => setTimeout(r, 1500));
    expect(await daemon.kill('SIGTERM')).toEqual({ code: 0, signal: null });

    const output = `${JSON.stringify(daemon.lines)}\n${daemon.stderr}`;
    expect(daemon.lines.length).toBeGreaterThan(20);
    expect(daemon.lines.some((l) => l.msg === 'mqtt connection refused')).toBe(true);
    for (const [name, secret] of Object.entries(secrets)) {
      expect(output.includes(secret), `${name} appears in the logs`).toBe(false);
      // Nor a long piece of it.
      expect(output.includes(secret.slice(-24)), `the end of ${name} appears in the logs`).toBe(false);
    }
  }, 60_000);
});
