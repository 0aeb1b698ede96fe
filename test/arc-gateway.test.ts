// The monitoring station in a real gateway: a CRITICAL report with a gun → police_dispatch and
// armed_threat_escalation go to the ARC (iobroker.sia's receiver, in-process) as one hold-up
// event, and are `delivered` on its ACK with the time and the path; a resolve sends the restore.
// With both paths down: retries, `failed` with the reason, the contacts' escalation takes over
// at once, and health says down.
import { afterEach, describe, expect, it } from 'vitest';
import { deadPort, startSiaReceiver } from './arc-receiver.js';
import { getJson, postJson, seedReport, startGateway, type TestGateway } from './helpers.js';
import { startWebhook } from './notify-servers.js';

const KEY = '000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F';

interface IncidentBody {
  actions: { id: number; action_type: string; status: string; result: string | null }[];
  deliveries: { id: number; channel: string; state: string; receipt: Record<string, unknown> | null; error: string | null; attempts: number }[];
}
const incident = async (gw: TestGateway, id: string) => (await getJson(`${gw.httpUrl}/incidents/${id}`)).body as IncidentBody;
const statusOf = (b: IncidentBody, type: string) => b.actions.find((a) => a.action_type === type);

describe('the monitoring station in the gateway', () => {
  const stops: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const s of stops.splice(0).reverse()) await s();
  });

  it('police_dispatch reaches the ARC: delivered on its ACK with time and path; the resolve sends the restore', async () => {
    const arc = await startSiaReceiver({ account: '5A7', key: KEY });
    stops.push(() => arc.close());
    const webhook = await startWebhook('s');
    stops.push(() => webhook.close());
    const gw = await startGateway({
      notify: { webhook: { secret: 's' } },
      contacts: [{ id: 'guard', name: 'Guard', channels: [{ webhook: `${webhook.url}/guard` }] }],
      escalation: { CRITICAL: [{ at_s: 3600, notify: ['guard'] }] },
      arc: { account: '5A7', key: KEY, primary: { host: '127.0.0.1', port: arc.port }, zones: { 'cam-1': 4 }, supervision_s: 0, test_report_h: 0 },
    });
    stops.push(() => gw.stop());
    const res = await postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: 'INC_ARC_1', camera_id: 'cam-1' }));
    expect(res.status).toBe(200);
    let body!: IncidentBody;
    await expect.poll(async () => statusOf((body = await incident(gw, 'INC_ARC_1')), 'police_dispatch')?.status, { timeout: 10_000, interval: 25 }).toBe('delivered');
    expect(statusOf(body, 'armed_threat_escalation')?.status).toBe('delivered');
    expect(statusOf(body, 'police_dispatch')?.result).toMatch(/^ACK from the primary receiver 127\.0\.0\.1:\d+ at 20\d\d-.*\(SIA-DCS HA zone 4, seq \d{4}\)$/);
    const station = body.deliveries.filter((d) => d.channel === 'arc');
    expect(station).toHaveLength(1);
    expect(station[0]).toMatchObject({ state: 'delivered', attempts: 1, receipt: { path: 'primary', acknowledged_at: expect.any(String), code: 'HA', zone: 4, class: 'holdup' } });
    // One hold-up event for the incident, with its extended data, encrypted with the AES-256 key.
    expect(arc.received).toHaveLength(1);
    expect(arc.received[0]).toMatchObject({ id: '*SIA-DCS', act: '5A7', data_message: '#5A7|Nri1/HA004' });
    expect(arc.received[0]!.data_extended).toMatch(/^Isite site-1 incident INC_ARC_1: CRITICAL at cam-1/);
    // The contacts' escalation runs beside it, at its own time: nobody was told yet.
    expect(webhook.received).toHaveLength(0);
    expect((await getJson(`${gw.httpUrl}/health`)).body.components.arc).toMatchObject({ status: 'up', connected_path: 'primary', last_supervision: null });
    // An operator resolves: the ARC gets the restore.
    expect((await postJson(`${gw.httpUrl}/incidents/INC_ARC_1/resolve`, { by: 'operator' })).status).toBe(200);
    await expect.poll(async () => statusOf((body = await incident(gw, 'INC_ARC_1')), 'deliver_arc')?.status, { timeout: 10_000, interval: 25 }).toBe('delivered');
    expect(arc.received.map((m) => m.data_message)).toEqual(['#5A7|Nri1/HA004', '#5A7|Nri1/HR004']);
    expect(new Set(arc.received.map((m) => m.seq)).size).toBe(2);
    const health = (await getJson(`${gw.httpUrl}/health`)).body.components.arc;
    expect(health).toMatchObject({ status: 'up', connected_path: 'primary', last_ack: expect.any(String) });
  }, 30_000);

  it('both paths down: retried, failed with the reason, the contacts are told at once, health is down', async () => {
    const webhook = await startWebhook('s');
    stops.push(() => webhook.close());
    const gw = await startGateway({
      notify: { webhook: { secret: 's' }, retry_base_ms: 10, retry_max_ms: 20, max_attempts: 3 },
      contacts: [{ id: 'guard', name: 'Guard', channels: [{ webhook: `${webhook.url}/guard` }] }],
      // Without the station's failure the guard would be told in an hour.
      escalation: { HIGH: [{ at_s: 3600, notify: ['guard'] }] },
      arc: { account: '5A7', primary: { host: '127.0.0.1', port: await deadPort() }, backup: { host: '127.0.0.1', port: await deadPort() }, supervision_s: 0, test_report_h: 0 },
    });
    stops.push(() => gw.stop());
    expect((await postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: 'INC_ARC_HIGH', threat_level: 'HIGH', weapon_detected: false, weapon_types: [], is_critical: false }))).status).toBe(200);
    let body!: IncidentBody;
    await expect.poll(async () => statusOf((body = await incident(gw, 'INC_ARC_HIGH')), 'notify_police')?.status, { timeout: 10_000, interval: 25 }).toBe('failed');
    const station = body.deliveries.find((d) => d.channel === 'arc')!;
    expect(station).toMatchObject({ state: 'failed', attempts: 3 });
    expect(station.error).toMatch(/no path acknowledged \(primary: .*ECONNREFUSED.*backup: .*ECONNREFUSED.*\(after 3 attempts\)$/);
    // The escalation's step (an hour away) was brought forward: the guard is told now.
    await expect.poll(() => webhook.received.length, { timeout: 10_000, interval: 25 }).toBe(1);
    expect(webhook.received[0]!.path).toBe('/guard');
    const health = await getJson(`${gw.httpUrl}/health`);
    expect(health.status).toBe(503);
    expect(health.body.components.arc).toMatchObject({ status: 'down', connected_path: null, consecutive_failures: { primary: 6, backup: 6 } });
  }, 30_000);
});
