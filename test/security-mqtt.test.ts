// MQTT accounts and topic ACLs on the embedded broker, from mqtt.js and from Debian's
// mosquitto_pub / mosquitto_sub: anonymous refused but on loopback (a switch), bad
// passwords refused, cameras confined to safesphere/cameras/<id>/#, devices to their
// command topics, last wills checked by the same rule.
import { execFile } from 'node:child_process';
import bcrypt from 'bcryptjs';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReportedLevelScorer } from '../src/scoring/scorer.js';
import { filterWithin, topicWithin } from '../src/security/mqtt.js';
import { connectMqtt, getJson, seedReport, startGateway, type TestGateway } from './helpers.js';

const PASSWORDS = { 'cam-1': 'cam-1-secret-pw', 'cam-2': 'cam-2-secret-pw', 'siren-1': 'siren-1-secret', ops: 'ops-secret-pw' };
const accounts = [
  { username: 'cam-1', role: 'camera', password_hash: bcrypt.hashSync(PASSWORDS['cam-1'], 4) },
  { username: 'cam-2', role: 'camera', password_hash: bcrypt.hashSync(PASSWORDS['cam-2'], 4) },
  { username: 'siren-1', role: 'siren', password_hash: bcrypt.hashSync(PASSWORDS['siren-1'], 4) },
  { username: 'ops', role: 'admin', password_hash: bcrypt.hashSync(PASSWORDS.ops, 4) },
];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
function run(cmd: string, args: string[], timeoutMs = 5000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The granted QoS per filter (128: refused); mqtt.js rejects a SUBACK holding a refusal, with the packet attached. */
async function grants(client: MqttClient, filters: string[]): Promise<number[]> {
  const out: number[] = [];
  for (const f of filters) {
    try {
      const granted = await client.subscribeAsync(f, { qos: 1 });
      out.push(granted[0]!.qos);
    } catch (err) {
      const packet = (err as { packet?: { granted?: number[] } }).packet;
      out.push(packet?.granted?.[0] ?? -1);
    }
  }
  return out;
}

const as = (user: keyof typeof PASSWORDS) => ({ username: user, password: PASSWORDS[user] });
const report = (id: string) => JSON.stringify(seedReport({ incident_id: id }));

async function stored(gw: TestGateway, id: string): Promise<boolean> {
  return (await getJson(`${gw.httpUrl}/incidents/${id}`)).status === 200;
}

/** Resolves once the client is closed (or after ms), with whether it closed. */
function closedWithin(client: MqttClient, ms: number): Promise<boolean> {
  if (client.disconnected || !client.connected) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    client.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

describe('topic rules', () => {
  it('filterWithin and topicWithin never let a wildcard escape the allowed prefix', () => {
    expect(filterWithin('safesphere/cameras/cam-1/threats', 'safesphere/cameras/cam-1/#')).toBe(true);
    expect(filterWithin('safesphere/cameras/cam-1/#', 'safesphere/cameras/cam-1/#')).toBe(true);
    expect(filterWithin('safesphere/cameras/+/threats', 'safesphere/cameras/cam-1/#')).toBe(false);
    expect(filterWithin('safesphere/#', 'safesphere/cameras/cam-1/#')).toBe(false);
    expect(filterWithin('#', 'safesphere/cameras/cam-1/#')).toBe(false);
    expect(filterWithin('safesphere/sirens/siren-1/set', 'safesphere/sirens/siren-1/set')).toBe(true);
    expect(filterWithin('safesphere/sirens/siren-1/set/x', 'safesphere/sirens/siren-1/set')).toBe(false);
    expect(topicWithin('safesphere/cameras/cam-10/threats', 'safesphere/cameras/cam-1/#')).toBe(false);
    expect(topicWithin('safesphere/cameras/cam-1', 'safesphere/cameras/cam-1/#')).toBe(true);
  });
});

describe('MQTT accounts and ACLs (anonymous loopback off)', () => {
  let gw: TestGateway;
  let port: string;
  beforeAll(async () => {
    gw = await startGateway({ mqtt: { host: '127.0.0.1', port: 0, accounts, allow_anonymous_loopback: false } }, { scorer: new ReportedLevelScorer() });
    port = String(gw.gateway.get('broker')!.port);
  });
  afterAll(() => gw.stop());

  it('refuses anonymous clients and bad passwords (mqtt.js)', async () => {
    await expect(connectMqtt(gw.mqttUrl)).rejects.toThrow(/not authorized/i);
    await expect(connectMqtt(gw.mqttUrl, { username: 'cam-1', password: 'wrong' })).rejects.toThrow(/bad user ?name or password/i);
    await expect(connectMqtt(gw.mqttUrl, { username: 'nobody', password: 'x' })).rejects.toThrow(/bad user ?name or password/i);
  });

  it('refuses anonymous clients and bad passwords (mosquitto_pub)', async () => {
    const anon = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-q', '1', '-t', 'safesphere/cameras/cam-1/threats', '-m', report('MQ_ANON')]);
    expect(anon.code).not.toBe(0);
    expect(anon.stderr).toMatch(/not authori[sz]ed/i);
    const bad = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-u', 'cam-1', '-P', 'nope', '-q', '1', '-t', 'safesphere/cameras/cam-1/threats', '-m', report('MQ_BAD')]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/bad user ?name or password|not authori[sz]ed/i);
    expect(await stored(gw, 'MQ_ANON')).toBe(false);
    expect(await stored(gw, 'MQ_BAD')).toBe(false);
  });

  it('a camera reports on its own topic (mqtt.js and mosquitto_pub)', async () => {
    const cam = await connectMqtt(gw.mqttUrl, as('cam-1'));
    await cam.publishAsync('safesphere/cameras/cam-1/threats', report('MQ_OWN_JS'), { qos: 1 });
    await cam.endAsync();
    expect(await stored(gw, 'MQ_OWN_JS')).toBe(true);
    const pub = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-u', 'cam-2', '-P', PASSWORDS['cam-2'], '-q', '1', '-t', 'safesphere/cameras/cam-2/threats', '-m', report('MQ_OWN_CLI')]);
    expect(pub.code, pub.stderr).toBe(0);
    expect(await stored(gw, 'MQ_OWN_CLI')).toBe(true);
  });

  it("a camera cannot publish as another camera: disconnected, nothing stored, nothing delivered", async () => {
    const watcher = await connectMqtt(gw.mqttUrl, as('ops'));
    const seen: string[] = [];
    watcher.on('message', (t) => seen.push(t));
    await watcher.subscribeAsync('safesphere/cameras/#', { qos: 1 });
    const cam = await connectMqtt(gw.mqttUrl, as('cam-1'));
    cam.on('error', () => {});
    cam.publish('safesphere/cameras/cam-2/threats', report('MQ_SPOOF_JS'), { qos: 1 });
    expect(await closedWithin(cam, 3000)).toBe(true);
    cam.end(true);
    const cli = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-u', 'cam-1', '-P', PASSWORDS['cam-1'], '-q', '1', '-t', 'safesphere/incidents/CRITICAL', '-m', '{"fake":true}']);
    expect(cli.code).not.toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    expect(await stored(gw, 'MQ_SPOOF_JS')).toBe(false);
    expect(seen.filter((t) => t.startsWith('safesphere/cameras/cam-2'))).toEqual([]);
    expect(gw.gateway.get('broker')!.security!.counters.denied_publishes).toBeGreaterThanOrEqual(2);
    await watcher.endAsync();
  });

  it('a camera may subscribe only to its own topics', async () => {
    const cam = await connectMqtt(gw.mqttUrl, as('cam-1'));
    const granted = await grants(cam, [
      'safesphere/gateway/rejects/cam-1',
      'safesphere/cameras/cam-1/#',
      'safesphere/cameras/+/threats',
      'safesphere/incidents/#',
      '#',
    ]);
    expect(granted).toEqual([1, 1, 128, 128, 128]);
    await cam.endAsync();
    const sub = await run('mosquitto_sub', ['-h', '127.0.0.1', '-p', port, '-u', 'cam-1', '-P', PASSWORDS['cam-1'], '-t', 'safesphere/incidents/#', '-C', '1', '-W', '2']);
    // mosquitto_sub says so and gets nothing (its exit code varies by version).
    expect(sub.stderr).toMatch(/denied/i);
    expect(sub.stdout).toBe('');
  });

  it('a siren subscribes only to its own command topic and receives its commands; it cannot report', async () => {
    const siren = await connectMqtt(gw.mqttUrl, as('siren-1'));
    const granted = await grants(siren, ['safesphere/sirens/siren-1/set', 'safesphere/sirens/siren-2/set', 'safesphere/sirens/#']);
    expect(granted).toEqual([1, 128, 128]);
    const got = new Promise<string>((resolve) => siren.once('message', (_t, p) => resolve(p.toString())));
    await gw.gateway.get('broker')!.publish({ topic: 'safesphere/sirens/siren-1/set', payload: Buffer.from('{"state":"ON"}'), qos: 1, retain: false });
    expect(await got).toBe('{"state":"ON"}');
    siren.on('error', () => {});
    siren.publish('safesphere/cameras/cam-1/threats', report('MQ_SIREN'), { qos: 1 });
    expect(await closedWithin(siren, 3000)).toBe(true);
    siren.end(true);
    expect(await stored(gw, 'MQ_SIREN')).toBe(false);
    // mosquitto_sub as the siren on its own topic: granted (it waits for one message).
    const sub = run('mosquitto_sub', ['-h', '127.0.0.1', '-p', port, '-u', 'siren-1', '-P', PASSWORDS['siren-1'], '-t', 'safesphere/sirens/siren-1/set', '-C', '1', '-W', '5']);
    await new Promise((r) => setTimeout(r, 500));
    await gw.gateway.get('broker')!.publish({ topic: 'safesphere/sirens/siren-1/set', payload: Buffer.from('OFF'), qos: 1, retain: false });
    const res = await sub;
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout.trim()).toBe('OFF');
  });

  it('a last will passes the same check: a spoofing will is dropped, an allowed one delivered', async () => {
    const watcher = await connectMqtt(gw.mqttUrl, as('ops'));
    const seen: { topic: string; payload: string }[] = [];
    watcher.on('message', (topic, p) => seen.push({ topic, payload: p.toString() }));
    await watcher.subscribeAsync('safesphere/cameras/#', { qos: 1 });
    const spoof = await connectMqtt(gw.mqttUrl, {
      ...as('cam-1'),
      will: { topic: 'safesphere/cameras/cam-2/threats', payload: Buffer.from(report('MQ_WILL_SPOOF')), qos: 1, retain: false },
    });
    const honest = await connectMqtt(gw.mqttUrl, {
      ...as('cam-2'),
      will: { topic: 'safesphere/cameras/cam-2/status', payload: Buffer.from('offline'), qos: 1, retain: false },
    });
    // Die without DISCONNECT, so the broker sends the wills.
    (spoof.stream as unknown as { destroy(): void }).destroy();
    (honest.stream as unknown as { destroy(): void }).destroy();
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && !seen.some((m) => m.topic === 'safesphere/cameras/cam-2/status')) await new Promise((r) => setTimeout(r, 50));
    expect(seen.some((m) => m.topic === 'safesphere/cameras/cam-2/status' && m.payload === 'offline')).toBe(true);
    expect(seen.some((m) => m.topic === 'safesphere/cameras/cam-2/threats')).toBe(false);
    expect(await stored(gw, 'MQ_WILL_SPOOF')).toBe(false);
    spoof.end(true);
    honest.end(true);
    await watcher.endAsync();
  });

  it('logs the anonymous switch, and never a password', () => {
    expect(gw.logs.lines.some((l) => String(l.msg).includes('every client needs an account'))).toBe(true);
    const text = JSON.stringify(gw.logs.lines);
    for (const pw of Object.values(PASSWORDS)) expect(text).not.toContain(pw);
  });
});

describe('anonymous on loopback (default on)', () => {
  it("lets a newcomer's mosquitto_pub on the gateway itself report", async () => {
    const gw = await startGateway({}, { scorer: new ReportedLevelScorer() });
    try {
      const pub = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(gw.gateway.get('broker')!.port), '-q', '1', '-t', 'safesphere/cameras/cam-9/threats', '-m', report('MQ_LOOP')]);
      expect(pub.code, pub.stderr).toBe(0);
      expect(await stored(gw, 'MQ_LOOP')).toBe(true);
      expect(gw.logs.lines.some((l) => String(l.msg).includes('anonymous clients allowed from loopback only'))).toBe(true);
    } finally {
      await gw.stop();
    }
  });
});
