// What a newcomer hit (issue 16, point 7): MQTT rejects name the incident when it parsed; one
// incident view with the operator status on both paths; a non-image is a 415 even when the
// incident has a snapshot; level changes count stored reports only (not duplicates, not
// conflicts); --hash-password does not echo on a terminal (a real pty, through python3).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { solidImage, uploadRaw, uploadSnapshot } from './evidence-fixtures.js';
import { connectMqtt, getJson, nextMessage, postJson, seedReport, startGateway, type TestGateway } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

describe('what the newcomer hit', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ scoring: { enabled: false }, metrics: { token: 'newcomer-metrics-token-0123456789' } });
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('an MQTT reject carries the incident_id whenever the report parsed', async () => {
    const cam = await connectMqtt(gw.mqttUrl, { clientId: 'newcomer-cam' });
    try {
      const waiting = nextMessage(cam, 'safesphere/gateway/rejects/cam-9');
      await new Promise((r) => setTimeout(r, 50));
      await cam.publishAsync('safesphere/cameras/cam-9/threats', JSON.stringify({ incident_id: 'NC_BAD_1', threat_level: 'NOPE', threat_score: 2 }), { qos: 1 });
      const msg = JSON.parse((await waiting).payload.toString());
      expect(msg.incident_id).toBe('NC_BAD_1');
      expect(msg.error.code).toBe('INVALID_REPORT');
      // Not JSON at all: no id to name.
      const again = nextMessage(cam, 'safesphere/gateway/rejects/cam-9');
      await cam.publishAsync('safesphere/cameras/cam-9/threats', '{not json', { qos: 1 });
      expect(JSON.parse((await again).payload.toString()).incident_id).toBeNull();
    } finally {
      await cam.endAsync();
    }
  });

  it('GET /incidents/{id} includes the operator status, and /api/incidents/{id} is the same view', async () => {
    expect((await postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: 'NC_VIEW', camera_id: 'cam-1' }))).status).toBe(200);
    expect((await postJson(`${gw.httpUrl}/incidents/NC_VIEW/acknowledge`, { by: 'guard-7', note: 'on it' })).status).toBe(200);
    const a = await getJson(`${gw.httpUrl}/incidents/NC_VIEW`);
    const b = await getJson(`${gw.httpUrl}/api/incidents/NC_VIEW`);
    expect(a.body.operator_status).toMatchObject({ state: 'acknowledged', acknowledged_by: 'guard-7' });
    expect(b.body).toEqual(a.body);
  });

  it('a non-image for an incident that has a snapshot is a 415, not a 409', async () => {
    expect((await postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: 'NC_SNAP', camera_id: 'cam-1' }))).status).toBe(200);
    expect((await uploadSnapshot(gw.httpUrl, 'NC_SNAP', await solidImage('jpeg', 40, 30))).status).toBe(200);
    const text = await uploadRaw(gw.httpUrl, 'NC_SNAP', Buffer.from('this is not an image'), 'evil.jpg');
    expect(text.status).toBe(415);
    expect(text.body.error.code).toBe('UNSUPPORTED_IMAGE');
    // A different real image is still the conflict it always was.
    expect((await uploadSnapshot(gw.httpUrl, 'NC_SNAP', await solidImage('png', 40, 30))).status).toBe(409);
  });

  it('safesphere_rescore_level_changes_total counts neither duplicates nor conflicts', async () => {
    const scrape = async () => {
      const text = await (await fetch(`${gw.httpUrl}/metrics`, { headers: { authorization: 'Bearer newcomer-metrics-token-0123456789' } })).text();
      return Number(/^safesphere_rescore_level_changes_total\{from="MEDIUM",to="MEDIUM"\} (\d+)/m.exec(text)?.[1] ?? 0);
    };
    const before = await scrape();
    const report = seedReport({ incident_id: 'NC_COUNT', threat_level: 'MEDIUM', threat_score: 0.5, weapon_detected: false, weapon_types: [] });
    expect((await postJson(`${gw.httpUrl}/threats/report`, report)).status).toBe(200);
    expect((await postJson(`${gw.httpUrl}/threats/report`, report)).body.duplicate).toBe(true);
    expect((await postJson(`${gw.httpUrl}/threats/report`, { ...report, people_count: 9 })).status).toBe(409);
    expect((await scrape()) - before).toBe(1);
  });
});

describe('--hash-password on a terminal', () => {
  it('prompts twice without echoing the password, and prints a hash of it', () => {
    // python3's pty gives the CLI a real terminal; everything it writes to the terminal is captured.
    const script = `
import os, pty, sys, time, select
pid, fd = pty.fork()
if pid == 0:
    os.chdir(${JSON.stringify(ROOT)})
    os.execv(${JSON.stringify(process.execPath)}, [${JSON.stringify(process.execPath)}, '--import', 'tsx', 'src/bin/safesphere-edge.ts', '--hash-password'])
out = b''
def read_until(marker, timeout=30):
    global out
    end = time.time() + timeout
    while marker not in out and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try: out += os.read(fd, 4096)
            except OSError: return
read_until(b'Password: ')
os.write(fd, b'correct-horse-battery\\r')
read_until(b'Again: ')
os.write(fd, b'correct-horse-battery\\r')
read_until(b'$2', 30)
end = time.time() + 10
while time.time() < end:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk: break
        out += chunk
os.waitpid(pid, 0)
sys.stdout.write(out.decode('utf8', 'replace'))
`;
    const run = spawnSync('python3', ['-c', script], { encoding: 'utf8', timeout: 60_000 });
    expect(run.status, run.stderr).toBe(0);
    const out = run.stdout;
    expect(out).toContain('Password: ');
    expect(out).toContain('Again: ');
    expect(out).not.toContain('correct-horse-battery');
    const hash = /\$2[aby]\$10\$[./A-Za-z0-9]{53}/.exec(out)?.[0];
    expect(hash).toBeDefined();
    expect(bcrypt.compareSync('correct-horse-battery', hash!)).toBe(true);
  }, 60_000);

  it('still reads one line from a pipe, for scripts', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/bin/safesphere-edge.ts', '--hash-password'], { cwd: ROOT, input: 'piped-password-1\n', encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(bcrypt.compareSync('piped-password-1', run.stdout.trim())).toBe(true);
    expect(run.stderr).not.toContain('Password:');
  });
});
