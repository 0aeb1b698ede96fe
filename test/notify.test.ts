// Actions that reach people, end to end in a real gateway: a CRITICAL report → escalation step 1
// → e-mail through nodemailer to the real `smtp-server` (STARTTLS, AUTH), ntfy, Pushover and
// Telegram to local servers implementing their documented APIs field for field (see
// test/notify-servers.ts for the docs pages: https://docs.ntfy.sh/publish/ ,
// https://pushover.net/api , https://pushover.net/api/receipts ,
// https://core.telegram.org/bots/api#sendmessage / #getupdates / #answercallbackquery), then
// acknowledgement through every path, and the failures that must end `failed` with the reason.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AckTokens } from '../src/notify/tokens.js';
import { solidImage, uploadSnapshot } from './evidence-fixtures.js';
import { getJson, postJson, seedReport, startGateway, tempDir, type TestGateway } from './helpers.js';
import { startNtfy, startPushover, startSmtp, startTelegram, startWebhook } from './notify-servers.js';

const PUSHOVER_APP = 'azGDORePK8gMaC0QOYAMyEEuzJnyUi';
const PUSHOVER_USER = 'uQiRzpo4DXghDmr9QzzfQu27cmVRsG';
const BOT = '123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11';

interface IncidentBody {
  actions: { id: number; action_type: string; status: string; result: string | null; description: string | null }[];
  deliveries: { id: number; channel: string; contact_id: string; state: string; receipt: Record<string, unknown> | null; error: string | null; step: number | null }[];
  escalation: { state: string; next_step: number | null; next_at: string | null; steps: number } | null;
  operator_status: { acknowledged_by: string; acknowledged_via: string; state: string } | null;
}

const incident = async (gw: TestGateway, id: string) => (await getJson(`${gw.httpUrl}/incidents/${id}`)).body as IncidentBody;

async function settled(gw: TestGateway, id: string, count: number): Promise<IncidentBody> {
  let body: IncidentBody | null = null;
  await expect
    .poll(async () => {
      body = await incident(gw, id);
      return body.deliveries.filter((d) => !['queued', 'sending'].includes(d.state)).length;
    }, { timeout: 15_000, interval: 50 })
    .toBeGreaterThanOrEqual(count);
  return body!;
}

describe('who gets told: channels, receipts and acknowledgement', () => {
  let gw: TestGateway;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let ntfy: Awaited<ReturnType<typeof startNtfy>>;
  let pushover: Awaited<ReturnType<typeof startPushover>>;
  let telegram: Awaited<ReturnType<typeof startTelegram>>;
  let webhook: Awaited<ReturnType<typeof startWebhook>>;
  let tokens: AckTokens;

  beforeAll(async () => {
    smtp = await startSmtp({ user: 'gateway', pass: 's3cret-smtp' });
    ntfy = await startNtfy({ token: 'tk_ntfytoken' });
    pushover = await startPushover(PUSHOVER_APP);
    telegram = await startTelegram(BOT);
    webhook = await startWebhook('hook-secret');
    gw = await startGateway({
      zones: [{ id: 'lobby', cameras: ['cam-1'] }],
      contacts: [
        { id: 'desk', name: 'Front desk', channels: [{ email: 'desk@example.org' }, { ntfy: 'site-1-desk' }] },
        { id: 'manager', name: 'Duty manager', channels: [{ pushover: PUSHOVER_USER }, { telegram: '12345' }] },
        { id: 'owner', name: 'Owner', channels: [{ webhook: `${webhook.url}/owner` }] },
      ],
      escalation: {
        CRITICAL: [{ at_s: 0, notify: ['desk', 'manager'] }, { at_s: 3600, notify: ['owner'] }],
        MEDIUM: [{ at_s: 1, notify: ['desk'] }],
      },
      notify: {
        public_url: 'https://gw.example.org:8443',
        email: { host: '127.0.0.1', port: smtp.port, tls: 'starttls', reject_unauthorized: false, username: 'gateway', password: 's3cret-smtp', from: 'alarms@example.org' },
        ntfy: { url: ntfy.url, token: 'tk_ntfytoken' },
        pushover: { url: pushover.url, app_token: PUSHOVER_APP, receipt_poll_s: 1 },
        telegram: { url: telegram.url, bot_token: BOT, poll_timeout_s: 1 },
        webhook: { secret: 'hook-secret' },
      },
    });
    tokens = new AckTokens(Buffer.from(readFileSync(join(gw.dataDir, 'notify-ack-secret'), 'utf8').trim(), 'utf8'));
  }, 30_000);

  afterAll(async () => {
    await gw?.stop();
    await Promise.all([smtp?.close(), ntfy?.close(), pushover?.close(), telegram?.close(), webhook?.close()]);
  });

  it('a CRITICAL report reaches every channel of step 1, each delivery with its receipt', async () => {
    const id = 'INC_NOTIFY_CRIT';
    const res = await postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: id, camera_id: 'cam-1' }));
    expect(res.status).toBe(200);
    const body = await settled(gw, id, 4);

    // E-mail: received by the SMTP server over STARTTLS with AUTH, with the right headers and body.
    expect(smtp.mails).toHaveLength(1);
    const mail = smtp.mails[0]!;
    expect(mail).toMatchObject({ from: 'alarms@example.org', to: ['desk@example.org'], user: 'gateway', secure: true });
    expect(mail.raw).toMatch(/^Subject: CRITICAL threat at cam-1 \(lobby\) - site site-1$/m);
    expect(mail.raw).toMatch(/^X-SafeSphere-Incident: INC_NOTIFY_CRIT$/im);
    expect(mail.raw).toMatch(/^X-SafeSphere-Level: CRITICAL$/im);
    expect(mail.raw).toMatch(/^Message-ID: <site-1_INC_NOTIFY_CRIT_0_desk_email_0@safesphere-edge>$/m);
    expect(mail.raw).toMatch(/^X-Priority: 1/m);
    expect(mail.raw).toContain('Content-Type: text/plain');
    expect(mail.raw).toContain('Content-Type: text/html');
    const text = mail.raw.replace(/=\r?\n/g, '');
    for (const s of ['Level:      CRITICAL', 'Camera:     cam-1', 'Zone:       lobby', 'Behaviour:  Following + approaching rapidly', 'Weapons:    gun', '2026-02-10T14:30:45.123']) expect(text).toContain(s);
    const link = /Acknowledge \(stops the escalation\): (https:\/\/gw\.example\.org:8443\/notify\/ack\/\S+)/.exec(text)![1]!;
    expect(tokens.verify(link.split('/').pop()!, Date.now()).ok).toBe(true);

    // ntfy: the documented JSON publish.
    expect(ntfy.published).toHaveLength(1);
    expect(ntfy.published[0]!.auth).toBe('Bearer tk_ntfytoken');
    expect(ntfy.published[0]!.body).toMatchObject({
      topic: 'site-1-desk',
      priority: 5,
      tags: ['rotating_light', 'critical', 'weapon'],
      click: 'https://gw.example.org:8443/?incident=INC_NOTIFY_CRIT',
      actions: [{ action: 'http', label: 'Acknowledge', method: 'POST', clear: true }],
    });
    expect((ntfy.published[0]!.body.actions as { url: string }[])[0]!.url).toMatch(/^https:\/\/gw\.example\.org:8443\/notify\/ack\//);

    // Pushover: emergency priority with retry and expire; the receipt is kept for polling.
    expect(pushover.messages).toHaveLength(1);
    const form = pushover.messages[0]!.form;
    expect(Object.fromEntries(form)).toMatchObject({ token: PUSHOVER_APP, user: PUSHOVER_USER, priority: '2', retry: '60', expire: '3600', url_title: 'Acknowledge', sound: 'siren' });

    // Telegram: a message with an inline Acknowledge button.
    expect(telegram.sent).toHaveLength(1);
    expect(telegram.sent[0]!.body).toMatchObject({ chat_id: '12345', parse_mode: 'HTML', reply_markup: { inline_keyboard: [[{ text: 'Acknowledge' }]] } });

    // The ledger: every delivery is an action of the incident, delivered with its receipt.
    expect(body.deliveries.map((d) => [d.contact_id, d.channel, d.state])).toEqual([
      ['desk', 'email', 'delivered'],
      ['desk', 'ntfy', 'delivered'],
      ['manager', 'pushover', 'delivered'],
      ['manager', 'telegram', 'delivered'],
    ]);
    expect(body.deliveries[0]!.receipt).toMatchObject({ smtp_response: expect.stringMatching(/^250 /) });
    expect(body.deliveries[1]!.receipt).toMatchObject({ status: 200, id: expect.any(String) });
    expect(body.deliveries[2]!.receipt).toMatchObject({ status: 200, receipt: expect.any(String), priority: 2 });
    expect(body.deliveries[3]!.receipt).toMatchObject({ message_id: 1 });
    const byType = Object.fromEntries(body.actions.map((a) => [a.action_type, a.status]));
    expect(byType).toMatchObject({ deliver_email: 'delivered', deliver_ntfy: 'delivered', deliver_pushover: 'delivered', deliver_telegram: 'delivered' });
    for (const t of ['police_dispatch', 'notify_all_contacts', 'live_location', 'armed_threat_escalation']) expect(byType[t], t).toBe('delivered');
    // Node-RED is off in this gateway: what it would carry out stays pending, and says nothing it did not do.
    expect(byType.voice_alert).toBe('pending');
    expect(body.escalation).toMatchObject({ state: 'running', steps: 2, next_step: 2 });
    expect(webhook.received).toHaveLength(0);
  }, 30_000);

  it('a Telegram button acknowledges: the escalation stops, the Pushover emergency is cancelled, a second press is refused', async () => {
    const id = 'INC_NOTIFY_CRIT';
    telegram.press(0);
    await expect.poll(async () => (await incident(gw, id)).operator_status?.acknowledged_via, { timeout: 10_000 }).toBe('telegram');
    const body = await incident(gw, id);
    expect(body.operator_status).toMatchObject({ state: 'acknowledged', acknowledged_by: 'Duty manager (@dana_duty)' });
    expect(body.escalation).toMatchObject({ state: 'acknowledged' });
    expect(body.deliveries.find((d) => d.channel === 'telegram')!.state).toBe('acknowledged');
    const police = body.actions.find((a) => a.action_type === 'police_dispatch')!;
    expect(police).toMatchObject({ status: 'acknowledged' });
    expect(police.result).toMatch(/^acknowledged by Duty manager \(@dana_duty\) via telegram at /);
    await expect.poll(() => telegram.answers.length, { timeout: 5000 }).toBe(1);
    expect(telegram.answers[0]!.text).toMatch(/^Acknowledged: incident INC_NOTIFY_CRIT/);
    await expect.poll(() => [...pushover.receipts.values()].every((r) => r.cancelled), { timeout: 5000 }).toBe(true);

    telegram.press(0);
    await expect.poll(() => telegram.answers.length, { timeout: 5000 }).toBe(2);
    expect(telegram.answers[1]).toMatchObject({ show_alert: true, text: expect.stringMatching(/already used/) });
  }, 20_000);

  it('the e-mail link: GET shows a page and acknowledges nothing; POST acknowledges once; used twice, expired or forged is refused', async () => {
    const id = 'INC_NOTIFY_LINK';
    await postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: id, camera_id: 'cam-1' }));
    await settled(gw, id, 4);
    const text = smtp.mails.at(-1)!.raw.replace(/=\r?\n/g, '');
    const token = /\/notify\/ack\/([A-Za-z0-9._-]+)/.exec(text)![1]!;
    const local = `${gw.httpUrl}/notify/ack/${token}`;

    const page = await fetch(local);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<form method="post">');
    expect((await incident(gw, id)).operator_status).toBeNull();

    const first = await fetch(local, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
    expect(first.status).toBe(200);
    expect(await first.text()).toContain('The escalation has stopped');
    const body = await incident(gw, id);
    expect(body.operator_status).toMatchObject({ acknowledged_by: 'Front desk', acknowledged_via: 'email' });
    expect(body.escalation!.state).toBe('acknowledged');

    const again = await fetch(local, { method: 'POST' });
    expect(again.status).toBe(409);
    expect(await again.text()).toMatch(/already used at .*acknowledged by Front desk via email/);

    const deliveryId = Number(token.split('.')[0]);
    const expired = tokens.sign(deliveryId, Date.now() / 1000 - 1);
    const gone = await fetch(`${gw.httpUrl}/notify/ack/${expired}`, { method: 'POST', headers: { accept: 'application/json' } });
    expect(gone.status).toBe(410);
    expect(await gone.json()).toMatchObject({ ok: false, code: 'expired' });
    const forged = new AckTokens(Buffer.from('not the key')).sign(deliveryId, Date.now() / 1000 + 3600);
    const bad = await fetch(`${gw.httpUrl}/notify/ack/${forged}`);
    expect(bad.status).toBe(403);
    expect(await bad.text()).toContain('not issued by this gateway');
    expect((await fetch(`${gw.httpUrl}/notify/ack/garbage`)).status).toBe(403);
  }, 20_000);

  it('a Pushover receipt acknowledged in the app becomes the incident\'s acknowledgement', async () => {
    const id = 'INC_NOTIFY_PUSH';
    await postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: id, camera_id: 'cam-1' }));
    const body = await settled(gw, id, 4);
    const receipt = body.deliveries.find((d) => d.channel === 'pushover')!.receipt!.receipt as string;
    pushover.acknowledge(receipt, 'pixel');
    await expect.poll(async () => (await incident(gw, id)).operator_status?.acknowledged_via, { timeout: 10_000 }).toBe('pushover');
    const after = await incident(gw, id);
    expect(after.operator_status!.acknowledged_by).toBe('Duty manager on pixel');
    expect(after.deliveries.find((d) => d.channel === 'pushover')!.state).toBe('acknowledged');
    expect(after.escalation!.state).toBe('acknowledged');
  }, 20_000);

  it('the dashboard\'s acknowledge stops the escalation too, and says it came from the dashboard', async () => {
    const id = 'INC_NOTIFY_DASH';
    await postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: id, camera_id: 'cam-1' }));
    await settled(gw, id, 4);
    const res = await postJson(`${gw.httpUrl}/incidents/${id}/acknowledge`, { by: 'guard-7', via: 'dashboard' });
    expect(res.status).toBe(200);
    expect(res.body.status).toMatchObject({ acknowledged_by: 'guard-7', acknowledged_via: 'dashboard' });
    const body = await incident(gw, id);
    expect(body.escalation!.state).toBe('acknowledged');
    expect(body.actions.find((a) => a.action_type === 'notify_all_contacts')!.result).toMatch(/^acknowledged by guard-7 via dashboard/);
  });

  it('an e-mail carries the snapshot thumbnail when the incident has one', async () => {
    const id = 'INC_NOTIFY_SNAP';
    // MEDIUM: step 1 at 1 s, time for the snapshot to be stored first.
    await postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: id, camera_id: 'cam-1', threat_level: 'MEDIUM', threat_score: 0.5, weapon_detected: false, weapon_types: [] }));
    expect((await uploadSnapshot(gw.httpUrl, id, await solidImage('jpeg', 64, 48))).status).toBe(200);
    await settled(gw, id, 2);
    const mail = smtp.mails.find((m) => m.raw.toLowerCase().includes(`x-safesphere-incident: ${id.toLowerCase()}`))!;
    expect(mail.raw).toMatch(/Content-Type: image\/jpeg; name=INC_NOTIFY_SNAP\.jpg/);
    expect(mail.raw).toMatch(/Content-ID: <snapshot@safesphere-edge>/);
    const decoded = mail.raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
    expect(decoded).toContain('<img src="cid:snapshot@safesphere-edge" alt="snapshot">');
    const thumb = readFileSync(join(gw.dataDir, 'snapshots', `${id}_thumb.jpg`)).toString('base64');
    expect(mail.raw.replace(/\r?\n/g, '')).toContain(thumb.slice(0, 200));
  }, 20_000);

  it('/health lists nothing undeliverable when every level the policy notifies for reaches someone it can', async () => {
    const { body } = await getJson(`${gw.httpUrl}/health`);
    // HIGH has no escalation steps here: its notification types are named, in plain words.
    expect(body.components.notify.status).toBe('degraded');
    expect(body.components.notify.undeliverable).toEqual([
      'notify_police: nobody will be told (HIGH: escalation.HIGH has no steps)',
      'notify_emergency_contacts: nobody will be told (HIGH: escalation.HIGH has no steps)',
      'share_location: nobody will be told (HIGH: escalation.HIGH has no steps)',
    ]);
    expect(body.components.notify.channels).toMatchObject({ email: { usable: true }, ntfy: { usable: true }, pushover: { usable: true }, telegram: { usable: true }, webhook: { usable: true } });
  });
});

describe('failures end failed with the reason, and the escalation goes on', () => {
  const stops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const s of stops.reverse()) await s();
  });

  it('an unreachable SMTP host, wrong SMTP credentials, and a 4xx from ntfy: failed, and step 2 runs at once', async () => {
    const smtp = await startSmtp({ user: 'gateway', pass: 'right' });
    stops.push(smtp.close);
    const closed = await startSmtp();
    const deadPort = closed.port;
    await closed.close();
    const ntfy = await startNtfy({ status: 403 });
    stops.push(ntfy.close);
    const webhook = await startWebhook('s');
    stops.push(webhook.close);
    const make = async (email: Record<string, unknown>) => {
      const gw = await startGateway({
        contacts: [
          { id: 'desk', name: 'Front desk', channels: [{ email: 'desk@example.org' }, { ntfy: 'desk' }] },
          { id: 'owner', name: 'Owner', channels: [{ webhook: `${webhook.url}/owner` }] },
        ],
        escalation: { CRITICAL: [{ at_s: 0, notify: ['desk'] }, { at_s: 3600, notify: ['owner'] }] },
        notify: { max_attempts: 3, retry_base_ms: 20, retry_max_ms: 50, send_timeout_ms: 2000, email: { host: '127.0.0.1', tls: 'none', ...email }, ntfy: { url: ntfy.url }, webhook: { secret: 's' } },
      });
      stops.push(gw.stop);
      return gw;
    };

    const unreachable = await make({ port: deadPort });
    await postJson(`${unreachable.httpUrl}/threats/report`, seedReport({ incident_id: 'INC_FAIL_1' }));
    const a = await settled(unreachable, 'INC_FAIL_1', 3);
    const email = a.deliveries.find((d) => d.channel === 'email')!;
    expect(email.state).toBe('failed');
    expect(email.error).toMatch(/^SMTP server 127\.0\.0\.1:\d+ unreachable: .*ECONNREFUSED.* \(after 3 attempts\)$/);
    const push = a.deliveries.find((d) => d.channel === 'ntfy')!;
    expect(push).toMatchObject({ state: 'failed', error: expect.stringMatching(/^HTTP 403: /) });
    // Step 1 reached nobody: step 2 (due in an hour) ran at once.
    expect(a.deliveries.find((d) => d.channel === 'webhook')).toMatchObject({ state: 'delivered', step: 2 });
    expect(a.actions.find((x) => x.action_type === 'deliver_email')).toMatchObject({ status: 'failed' });
    expect(a.actions.find((x) => x.action_type === 'police_dispatch')).toMatchObject({ status: 'delivered' });

    const wrongPassword = await make({ port: smtp.port, tls: 'starttls', reject_unauthorized: false, username: 'gateway', password: 'wrong' });
    await postJson(`${wrongPassword.httpUrl}/threats/report`, seedReport({ incident_id: 'INC_FAIL_2' }));
    const b = await settled(wrongPassword, 'INC_FAIL_2', 3);
    // Wrong credentials are not retried: a resend cannot fix them.
    expect(b.deliveries.find((d) => d.channel === 'email')).toMatchObject({ state: 'failed', error: expect.stringMatching(/^SMTP authentication failed: 535/) });
    expect(b.deliveries.find((d) => d.channel === 'webhook')).toMatchObject({ state: 'delivered' });
    expect(smtp.mails).toHaveLength(0);
  }, 40_000);

  it('with nothing configured, the notification types are undeliverable and /health says who will not be told', async () => {
    const gw = await startGateway({ notify: {} });
    stops.push(gw.stop);
    const { body } = await getJson(`${gw.httpUrl}/health`);
    expect(body.status).toBe('degraded');
    expect(body.components.notify.undeliverable).toContain('police_dispatch: nobody will be told (CRITICAL: escalation.CRITICAL has no steps)');
    expect(gw.gateway.banner()).toContain('! police_dispatch: nobody will be told');
    await postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: 'INC_NOBODY' }));
    await expect.poll(async () => (await incident(gw, 'INC_NOBODY')).actions.find((a) => a.action_type === 'police_dispatch')?.status).toBe('undeliverable');
    const body2 = await incident(gw, 'INC_NOBODY');
    expect(body2.actions.find((a) => a.action_type === 'police_dispatch')!.result).toBe('nobody will be told: escalation.CRITICAL has no steps');
    expect(body2.escalation).toBeNull();
  });

  it('a contact channel the site cannot carry is recorded undeliverable, the others still go', async () => {
    const webhook = await startWebhook('');
    stops.push(webhook.close);
    const gw = await startGateway({
      contacts: [{ id: 'm', name: 'Manager', channels: [{ telegram: '12345' }, { webhook: `${webhook.url}/m` }] }],
      escalation: { CRITICAL: [{ at_s: 0, notify: ['m'] }] },
      notify: {},
    });
    stops.push(gw.stop);
    await postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: 'INC_PARTIAL' }));
    const body = await settled(gw, 'INC_PARTIAL', 1);
    expect(body.actions.find((a) => a.action_type === 'deliver_telegram')).toMatchObject({
      status: 'undeliverable',
      result: 'nothing can carry it: no Telegram bot token is configured (notify.telegram.bot_token_file)',
    });
    expect(body.deliveries.map((d) => [d.channel, d.state])).toEqual([['webhook', 'delivered']]);
    expect(webhook.received[0]!.signatureOk).toBe(false); // no secret configured: unsigned
  });
});

describe('config: a malformed contacts or escalation block names every bad key', () => {
  it('unknown contact id, negative delay, a channel without an address', async () => {
    const { loadConfig, ConfigError } = await import('../src/config/load.js');
    let err: unknown;
    try {
      loadConfig({
        overrides: {
          contacts: [
            { id: 'desk', name: 'Desk', channels: [{ email: '' }] },
            { id: 'm', name: 'M', channels: [{}] },
          ],
          escalation: { CRITICAL: [{ at_s: -5, notify: ['desk'] }, { at_s: 60, notify: ['owner'] }] },
        },
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as InstanceType<typeof ConfigError>).problems;
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^contacts\.0\.channels\.0\.email: must match pattern/),
        expect.stringMatching(/^contacts\.1\.channels\.0: must NOT have fewer than 1 properties/),
        'escalation.CRITICAL.0.at_s: must be >= 0',
        'escalation.CRITICAL.1.notify.0: unknown contact "owner" (contacts: desk, m)',
      ]),
    );
  });

  it('the daemon exits 78 on it, naming each key', async () => {
    const { spawnSync } = await import('node:child_process');
    const dir = tempDir();
    try {
      const file = join(dir, 'site.yaml');
      const { writeFileSync } = await import('node:fs');
      writeFileSync(file, 'contacts:\n  - { id: desk, name: Desk, channels: [{ ntfy: "" }] }\nescalation:\n  HIGH: [ { at_s: -1, notify: [desk] }, { at_s: 5, notify: [ghost] } ]\n');
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/bin/safesphere-edge.ts', '--check-config', '--config', file], { encoding: 'utf8', env: { ...process.env, SAFESPHERE_DATA_DIR: dir } });
      expect(r.status).toBe(78);
      const out = r.stdout + r.stderr;
      expect(out).toContain('contacts.0.channels.0.ntfy');
      expect(out).toContain('escalation.HIGH.0.at_s');
      expect(out).toContain('escalation.HIGH.1.notify.0: unknown contact "ghost"');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
