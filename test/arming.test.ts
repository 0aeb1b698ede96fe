// Arming: the mode × level × weapon matrix through the real pipeline (the safety floor in every
// mode), the HTTP and MQTT paths with their refusals, the PIN and its rate limit, the keypad
// ACL, the audit (feed, restart, upstream over HTTP push).
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { ARMING_MODES, type ArmingMode, type ThreatLevel } from '../src/config/schema.js';
import { ReportedLevelScorer } from '../src/scoring/scorer.js';
import { connectMqtt, getJson, postJson, seedReport, startGateway, tempDir, type TestGateway } from './helpers.js';
import { startWebhook } from './notify-servers.js';
import { Receiver } from './receiver.js';

const LEVELS: ThreatLevel[] = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'];
type Weapon = 'none' | 'knife' | 'firearm';
const WEAPONS: Weapon[] = ['none', 'knife', 'firearm'];

// The default policy (src/config/schema.ts), written out: what each level plans in full.
const FULL: Record<ThreatLevel, string[]> = {
  LOW: [],
  MEDIUM: ['start_recording', 'alert_user'],
  HIGH: ['start_recording', 'notify_police', 'notify_emergency_contacts', 'share_location'],
  CRITICAL: ['police_dispatch', 'continuous_recording', 'live_location', 'voice_alert', 'safe_route', 'notify_all_contacts'],
};
const CRITICAL_FULL = [...FULL.CRITICAL, 'armed_threat_escalation'];
// The default arming.modes.disarmed: record and alert the desk, no siren (voice_alert).
const DISARMED: Record<ThreatLevel, string[]> = {
  LOW: [],
  MEDIUM: ['start_recording', 'alert_user'],
  HIGH: ['start_recording', 'notify_emergency_contacts'],
  CRITICAL: ['police_dispatch', 'continuous_recording', 'live_location', 'safe_route', 'notify_all_contacts'],
};

function expected(mode: ArmingMode, level: ThreatLevel, weapon: Weapon): string[] {
  // The safety floor: a firearm at any level, and a CRITICAL with any weapon, run the full
  // CRITICAL response (with armed_threat_escalation), in every mode.
  if (weapon === 'firearm' || (level === 'CRITICAL' && weapon !== 'none')) return CRITICAL_FULL;
  return mode === 'disarmed' ? DISARMED[level] : FULL[level];
}

const put = async (url: string, body: unknown, headers: Record<string, string> = {}) => {
  const res = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
};

let n = 0;
function report(level: ThreatLevel, weapon: Weapon): Record<string, unknown> {
  return seedReport({
    incident_id: `ARM_${++n}_${level}_${weapon}`,
    threat_level: level,
    threat_score: { LOW: 0.1, MEDIUM: 0.4, HIGH: 0.7, CRITICAL: 0.9 }[level],
    is_critical: level === 'CRITICAL',
    weapon_detected: weapon !== 'none',
    weapon_types: weapon === 'none' ? [] : weapon === 'knife' ? ['knife'] : ['pistol'],
  });
}

/** One result per published command on safesphere/gateway/arming/result. */
async function resultsOf(client: MqttClient) {
  const results: any[] = [];
  const waiters: (() => void)[] = [];
  client.on('message', (topic, payload) => {
    if (topic !== 'safesphere/gateway/arming/result') return;
    results.push(JSON.parse(payload.toString()));
    for (const w of waiters.splice(0)) w();
  });
  await client.subscribeAsync('safesphere/gateway/arming/result', { qos: 1 });
  return {
    results,
    async send(payload: string): Promise<any> {
      const before = results.length;
      const got = new Promise<void>((resolve) => {
        const check = () => (results.length > before ? resolve() : waiters.push(check));
        waiters.push(check);
      });
      await client.publishAsync('safesphere/gateway/arming/set', payload, { qos: 1 });
      await got;
      return results[results.length - 1];
    },
  };
}

describe('arming: mode x level x weapon, through the pipeline', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({}, { scorer: new ReportedLevelScorer() });
  });
  afterAll(async () => gw?.stop());

  it('plans exactly the expected actions for every mode, level and weapon, with the firearm floor in every mode', async () => {
    const rows: string[] = [];
    for (const mode of ARMING_MODES) {
      const set = await put(`${gw.httpUrl}/arming`, { mode, by: 'matrix' });
      expect(set.status, JSON.stringify(set.body)).toBe(200);
      expect(set.body.arming.mode).toBe(mode);
      for (const level of LEVELS) {
        for (const weapon of WEAPONS) {
          const res = await postJson(`${gw.httpUrl}/threats/report`, report(level, weapon));
          expect(res.status).toBe(200);
          const got = (res.body.actions as { action_type: string }[]).map((a) => a.action_type);
          expect(got, `${mode} ${level} ${weapon}`).toEqual(expected(mode, level, weapon));
          rows.push(`${mode}/${level}/${weapon}`);
          if (level === 'CRITICAL' && weapon !== 'none') expect(got, 'no mode silences the siren of an armed CRITICAL').toContain('voice_alert');
          if (weapon === 'firearm') expect(got, 'a firearm at any level dispatches police and sounds the siren, in every mode').toEqual(expect.arrayContaining(['police_dispatch', 'voice_alert']));
        }
      }
    }
    expect(rows).toHaveLength(ARMING_MODES.length * LEVELS.length * WEAPONS.length);
  });

  it('refuses an unknown mode and a bad body with 422 naming each field, and changes nothing', async () => {
    const before = (await (await fetch(`${gw.httpUrl}/arming`)).json()) as any;
    const bad = await put(`${gw.httpUrl}/arming`, { mode: 'armed_party', by: '', extra: 1 });
    expect(bad.status).toBe(422);
    expect(bad.body.error.code).toBe('INVALID_ARMING');
    expect(bad.body.error.details.map((d: any) => d.path).sort()).toEqual(['by', 'extra', 'mode']);
    expect((await put(`${gw.httpUrl}/arming`, '"disarmed"')).status).toBe(422);
    const after = (await (await fetch(`${gw.httpUrl}/arming`)).json()) as any;
    expect(after.mode).toBe(before.mode);
  });

  it('refuses an unknown mode over MQTT with a coded result', async () => {
    const client = await connectMqtt(gw.mqttUrl);
    try {
      const r = await resultsOf(client);
      const res = await r.send('ARM_PARTY');
      expect(res).toMatchObject({ ok: false, error: { code: 'INVALID_ARMING' } });
      expect(res.error.details[0].path).toBe('mode');
    } finally {
      await client.endAsync();
    }
  });
});

describe('arming: the safety floor with the shipped re-scorer', () => {
  it('a LOW report naming a firearm ends at least HIGH and runs the full CRITICAL response while disarmed', async () => {
    const gw = await startGateway({ arming: { initial_mode: 'disarmed' } });
    try {
      expect(((await (await fetch(`${gw.httpUrl}/arming`)).json()) as any).mode).toBe('disarmed');
      const res = await postJson(`${gw.httpUrl}/threats/report`, report('LOW', 'firearm'));
      // The incident keeps its scored level; its response is CRITICAL's.
      expect(res.body.threat_level).toBe('HIGH');
      expect(res.body.actions.map((a: { action_type: string }) => a.action_type)).toEqual(CRITICAL_FULL);
      // The same HIGH without a firearm keeps only what disarmed keeps.
      const plain = await postJson(`${gw.httpUrl}/threats/report`, report('HIGH', 'none'));
      expect(plain.body.actions.map((a: { action_type: string }) => a.action_type)).toEqual(DISARMED.HIGH);
    } finally {
      await gw.stop();
    }
  });

  it('the floor reads the site vocabulary: a site term, and weapon_detected with no clear type, run the CRITICAL response', async () => {
    const gw = await startGateway({ arming: { initial_mode: 'disarmed' }, scoring: { firearm_terms: ['blaster'] } });
    try {
      const term = await postJson(`${gw.httpUrl}/threats/report`, { ...report('MEDIUM', 'none'), weapon_detected: true, weapon_types: ['Blasters'] });
      expect(term.body.actions.map((a: { action_type: string }) => a.action_type)).toEqual(CRITICAL_FULL);
      const untyped = await postJson(`${gw.httpUrl}/threats/report`, { ...report('MEDIUM', 'none'), weapon_detected: true, weapon_types: [] });
      expect(untyped.body.actions.map((a: { action_type: string }) => a.action_type)).toEqual(CRITICAL_FULL);
      // A knife is clearly a blade: no firearm floor, the mode's MEDIUM plan.
      const knife = await postJson(`${gw.httpUrl}/threats/report`, report('MEDIUM', 'knife'));
      expect(knife.body.actions.map((a: { action_type: string }) => a.action_type)).toEqual(DISARMED.MEDIUM);
    } finally {
      await gw.stop();
    }
  });

  it('a HIGH report naming a firearm is escalated to the CRITICAL contacts, not the HIGH ones', async () => {
    const webhook = await startWebhook('');
    const gw = await startGateway({
      arming: { initial_mode: 'disarmed' },
      notify: {},
      contacts: [
        { id: 'desk', name: 'Front desk', channels: [{ webhook: `${webhook.url}/desk` }] },
        { id: 'police-liaison', name: 'Police liaison', channels: [{ webhook: `${webhook.url}/liaison` }] },
      ],
      escalation: { HIGH: [{ at_s: 0, notify: ['desk'] }], CRITICAL: [{ at_s: 0, notify: ['police-liaison'] }] },
    });
    try {
      const res = await postJson(`${gw.httpUrl}/threats/report`, report('HIGH', 'firearm'));
      expect(res.body.threat_level).toBe('HIGH');
      await expect.poll(() => webhook.received.length, { timeout: 15_000, interval: 50 }).toBe(1);
      expect(webhook.received[0]!.path).toBe('/liaison');
      const body = (await getJson(`${gw.httpUrl}/incidents/${res.body.incident_id}`)).body as any;
      expect(body.escalation).toMatchObject({ level: 'CRITICAL' });
      expect(body.actions.find((a: any) => a.action_type === 'police_dispatch').status).toBe('delivered');
    } finally {
      await gw.stop();
      await webhook.close();
    }
  });
});

describe('arming: PIN, keypad ACL, audit, restart, upstream', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('refuses a missing or wrong PIN, locks out after repeated wrong PINs, and only a keypad or admin may command', async () => {
    const pinHash = bcrypt.hashSync('4321', 4);
    const keypadHash = bcrypt.hashSync('keypad-secret', 4);
    const cameraHash = bcrypt.hashSync('camera-secret', 4);
    const gw = await startGateway(
      {
        arming: { pin_hash: pinHash, pin_max_failures: 3, pin_lockout_s: 600 },
        mqtt: {
          host: '127.0.0.1',
          port: 0,
          allow_anonymous_loopback: false,
          accounts: [
            { username: 'hall-keypad', password_hash: keypadHash, role: 'keypad' },
            { username: 'cam-1', password_hash: cameraHash, role: 'camera' },
          ],
        },
      },
      { scorer: new ReportedLevelScorer() },
    );
    cleanup.push(() => gw.stop());
    const keypad = await connectMqtt(gw.mqttUrl, { username: 'hall-keypad', password: 'keypad-secret' });
    cleanup.push(() => keypad.endAsync());
    const r = await resultsOf(keypad);

    // Arming needs no PIN; disarming does.
    expect(await r.send('ARM_NIGHT')).toMatchObject({ ok: true, changed: true, mode: 'armed_night', by: 'hall-keypad', via: 'mqtt' });
    expect(await r.send('DISARM')).toMatchObject({ ok: false, mode: 'armed_night', error: { code: 'ARMING_PIN_WRONG' } });
    expect(await r.send(JSON.stringify({ action: 'DISARM', code: '0000' }))).toMatchObject({ ok: false, error: { code: 'ARMING_PIN_WRONG' } });
    expect(await r.send(JSON.stringify({ action: 'DISARM', code: '4321', source: 'homeassistant' }))).toMatchObject({ ok: true, mode: 'disarmed', via: 'homeassistant' });
    // The correct PIN reset the count: three wrong ones in a row now lock every PIN out, the right one included.
    await r.send('ARM_AWAY');
    for (let i = 0; i < 3; i++) expect((await r.send(JSON.stringify({ action: 'DISARM', code: `99${i}` }))).error.code).toBe('ARMING_PIN_WRONG');
    const locked = await r.send(JSON.stringify({ action: 'DISARM', code: '4321' }));
    expect(locked).toMatchObject({ ok: false, mode: 'armed_away', error: { code: 'ARMING_PIN_LOCKED' } });
    const status = (await (await fetch(`${gw.httpUrl}/arming`)).json()) as any;
    expect(status.mode).toBe('armed_away');
    expect(status.pin.locked_until).not.toBeNull();
    // The operator token (HTTP) is not a PIN path: it still works during a lockout.
    expect((await put(`${gw.httpUrl}/arming`, { mode: 'disarmed', by: 'desk' })).body.arming.mode).toBe('disarmed');

    // Subscribers to the command topic never see a code.
    const seen: string[] = [];
    keypad.on('message', (topic, payload) => topic === 'safesphere/gateway/arming/set' && seen.push(payload.toString()));
    await keypad.subscribeAsync('safesphere/gateway/arming/set', { qos: 1 });
    await r.send(JSON.stringify({ action: 'ARM_HOME', code: '4321' }));
    // The routed command comes after the result and the PUBACK (with TCP_NODELAY, in its own segment).
    await expect.poll(() => seen.length).toBeGreaterThan(0);
    expect(seen.join('')).not.toContain('4321');

    // A camera account may not command: the ACL refuses the publish and drops the client.
    const camera = await connectMqtt(gw.mqttUrl, { username: 'cam-1', password: 'camera-secret' });
    const closed = new Promise<void>((resolve) => camera.once('close', () => resolve()));
    camera.publish('safesphere/gateway/arming/set', 'DISARM', { qos: 1 });
    await closed;
    await camera.endAsync(true);
    expect(((await (await fetch(`${gw.httpUrl}/arming`)).json()) as any).mode).toBe('armed_home');

    // Every change is audited: who, through what, when.
    const audit = (await (await fetch(`${gw.httpUrl}/arming/changes`)).json()) as any;
    expect(audit.changes.map((c: any) => [c.data.mode, c.data.by, c.data.via])).toEqual([
      ['armed_night', 'hall-keypad', 'mqtt'],
      ['disarmed', 'hall-keypad', 'homeassistant'],
      ['armed_away', 'hall-keypad', 'mqtt'],
      ['disarmed', 'desk (loopback)', 'http'],
      ['armed_home', 'hall-keypad', 'mqtt'],
    ]);
    for (const c of audit.changes) expect(Date.parse(c.data.at)).not.toBeNaN();
  });

  it('puts every change in the live feed, keeps the mode across a restart, and pushes the audit and heartbeats upstream over HTTP', async () => {
    const receiver = new Receiver();
    await receiver.start();
    cleanup.push(() => receiver.stop());
    const dataDir = tempDir();
    const overrides = { upstream: { http: { enabled: true, url: receiver.url, heartbeat_s: 5 }, retry_base_ms: 50 } };
    const gw = await startGateway(overrides, { scorer: new ReportedLevelScorer(), dataDir });
    expect((await put(`${gw.httpUrl}/arming`, { mode: 'armed_vacation', by: 'owner', via: 'dashboard' })).status).toBe(200);
    await receiver.waitFor(() => receiver.siteEvents.length >= 1 && receiver.heartbeats.length >= 1, 10_000, 'first event and heartbeat').catch(() => undefined);
    const feed = gw.gateway.store.operations.feedAfter(0, 1000).filter((r) => r.kind === 'arming');
    expect(feed).toHaveLength(1);
    expect(JSON.parse(feed[0]!.data)).toMatchObject({ mode: 'armed_vacation', previous: 'armed_away', by: 'owner (loopback)', via: 'dashboard' });
    await gw.stop();

    const again = await startGateway(overrides, { scorer: new ReportedLevelScorer(), dataDir });
    cleanup.push(() => again.stop());
    const status = (await (await fetch(`${again.httpUrl}/arming`)).json()) as any;
    expect(status).toMatchObject({ mode: 'armed_vacation', by: 'owner (loopback)', via: 'dashboard', source: 'manual' });
    expect((await put(`${again.httpUrl}/arming`, { mode: 'armed_away' })).status).toBe(200);

    const waitSite = (pred: () => boolean) =>
      new Promise<void>((resolve) => {
        const check = () => pred() && (receiver.off('site', check), resolve());
        receiver.on('site', check);
        check();
      });
    await waitSite(() => receiver.siteEvents.length >= 2 && receiver.heartbeats.length >= 2);
    const events = receiver.siteEvents.map((e) => e.body);
    expect(events.map((e) => [e.kind, e.data.mode, e.data.previous])).toEqual([
      ['arming', 'armed_vacation', 'armed_away'],
      ['arming', 'armed_away', 'armed_vacation'],
    ]);
    expect(receiver.siteEvents.map((e) => e.key)).toEqual(events.map((e) => `site-1:site-event:${e.seq}`));
    const hb = receiver.heartbeats[receiver.heartbeats.length - 1]!.body;
    expect(hb).toMatchObject({ site_id: 'site-1', status: 'online', transport: 'http', backlog: { total: expect.any(Number) } });
    expect(hb.components).toMatchObject({ db: 'up', sync: expect.any(String), arming: 'up' });
    expect(['armed_vacation', 'armed_away']).toContain(hb.arming_mode);
    expect(hb).toHaveProperty('oldest_undelivered_age_s');
    expect(hb).toHaveProperty('model_version');
    // Delivered: once the round that sent them has recorded it, nothing is pending for the HTTP push.
    await again.gateway.get('sync')!.siteSync('http')!.round(false);
    expect(again.gateway.store.arming.pendingFor(1, 10)).toEqual([]);
  });
});

describe('arming: bad configuration exits 78 naming the key', () => {
  const check = (yaml: string) => {
    const dir = tempDir();
    const file = join(dir, 'site.yaml');
    writeFileSync(file, yaml);
    return spawnSync(process.execPath, ['--import', 'tsx', 'src/bin/safesphere-edge.ts', '--config', file, '--check-config'], {
      env: { ...process.env, SAFESPHERE_DATA_DIR: dir },
      encoding: 'utf8',
      timeout: 20_000,
    });
  };

  it('refuses overlapping slots, invalid times and zones, impossible holidays, unknown modes and unplanned actions', () => {
    const run = check(
      [
        'arming:',
        '  initial_mode: armed_party',
        '  modes:',
        '    disarmed:',
        '      MEDIUM: [start_recording, sound_siren]',
        '  schedule:',
        '    enabled: true',
        '    time_zone: Mars/Olympus_Mons',
        '    holidays: ["2026-02-30"]',
        '    weekly:',
        '      - { days: [mon, tue], from: "08:00", to: "18:00", mode: disarmed }',
        '      - { days: [tue], from: "17:30", to: "20:00", mode: armed_home }',
        '',
      ].join('\n'),
    );
    expect(run.status).toBe(78);
    expect(run.stderr).toContain('arming.initial_mode: must be one of disarmed, armed_home, armed_away, armed_night, armed_vacation');
    // Schema errors come first; the semantic checks run on a config that passed the schema.
    const semantic = check(
      [
        'arming:',
        '  modes:',
        '    disarmed:',
        '      MEDIUM: [start_recording, sound_siren]',
        '  schedule:',
        '    enabled: true',
        '    time_zone: Mars/Olympus_Mons',
        '    holidays: ["2026-02-30"]',
        '    weekly:',
        '      - { days: [mon, tue], from: "08:00", to: "18:00", mode: disarmed }',
        '      - { days: [tue], from: "17:30", to: "20:00", mode: armed_home }',
        '',
      ].join('\n'),
    );
    expect(semantic.status).toBe(78);
    expect(semantic.stderr).toContain('arming.schedule.time_zone: "Mars/Olympus_Mons" is not an IANA time zone');
    expect(semantic.stderr).toContain('arming.schedule.holidays[0]: 2026-02-30 is not a calendar date');
    expect(semantic.stderr).toContain('arming.modes.disarmed.MEDIUM[1]: "sound_siren" is not an action the policy plans at MEDIUM');
    const overlap = check(
      [
        'arming:',
        '  schedule:',
        '    enabled: true',
        '    time_zone: Europe/Berlin',
        '    weekly:',
        '      - { days: [mon, tue], from: "08:00", to: "18:00", mode: disarmed }',
        '      - { days: [tue], from: "17:30", to: "20:00", mode: armed_home }',
        '      - { days: [sun], from: "22:00", to: "06:00", mode: armed_night }',
        '      - { days: [mon], from: "05:00", to: "07:00", mode: armed_home }',
        '      - { days: [wed], from: "25:00", to: "07:00", mode: armed_home }',
        '',
      ].join('\n'),
    );
    expect(overlap.status).toBe(78);
    expect(overlap.stderr).toContain('arming.schedule.weekly.4.from: must match pattern');
    const overlapOnly = check(
      [
        'arming:',
        '  schedule:',
        '    enabled: true',
        '    time_zone: Europe/Berlin',
        '    weekly:',
        '      - { days: [mon, tue], from: "08:00", to: "18:00", mode: disarmed }',
        '      - { days: [tue], from: "17:30", to: "20:00", mode: armed_home }',
        '      - { days: [sun], from: "22:00", to: "06:00", mode: armed_night }',
        '      - { days: [mon], from: "05:00", to: "07:00", mode: armed_home }',
        '      - { days: [thu], from: "09:00", to: "09:00", mode: armed_home }',
        '',
      ].join('\n'),
    );
    expect(overlapOnly.status).toBe(78);
    expect(overlapOnly.stderr).toContain('arming.schedule.weekly[1]: overlaps arming.schedule.weekly[0] from tue 17:30');
    // Sunday 22:00 to Monday 06:00 runs into Monday 05:00.
    expect(overlapOnly.stderr).toContain('arming.schedule.weekly[3]: overlaps arming.schedule.weekly[2] from mon 05:00');
    expect(overlapOnly.stderr).toContain('arming.schedule.weekly[4]: from and to are both 09:00');
  }, 120_000);
});

describe('README examples', () => {
  it('the "Arming" and "Home Assistant" examples are complete, valid site configs', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const hash = bcrypt.hashSync('example', 4);
    for (const section of ['## Arming', '## Home Assistant']) {
      const body = readme.slice(readme.indexOf(`${section}\n`), readme.indexOf('\n## ', readme.indexOf(`${section}\n`) + 4));
      const yaml = /```yaml\n([\s\S]*?)```/.exec(body)![1]!.replaceAll('"$2b$10$…"', JSON.stringify(hash));
      const file = join(tempDir(), 'site.yaml');
      writeFileSync(file, yaml);
      expect(() => loadConfig({ file }), section).not.toThrow();
    }
  });
});
