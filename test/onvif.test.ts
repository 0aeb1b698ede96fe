// ONVIF cameras as a report source, end to end through the onvif package against a local SOAP
// device (test/onvif-server.ts): Hikvision- and Axis-style analytics topics into incidents, the
// hold-off window, Renew, a camera going away and coming back, wrong credentials (one clear
// per-camera error, no retry storm), and hostile responses (billion laughs, XXE, a huge body)
// refused and counted while the source keeps running.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { OnvifCamera } from '../src/onvif/camera.js';
import { getJson, startGateway, type TestGateway } from './helpers.js';
import { billionLaughs, externalEntity, notification, OnvifTestCamera } from './onvif-server.js';

const wait = <T>(fn: () => T | Promise<T>) => vi.waitFor(fn, { timeout: 15_000, interval: 20 });

describe('ONVIF source', () => {
  let gw: TestGateway;
  let gate: OnvifTestCamera;
  let yard: OnvifTestCamera;
  let cams: ReadonlyMap<string, OnvifCamera>;
  const health = (id: string) => gw.gateway.health.snapshot().components[`onvif:${id}`] as Record<string, any>;
  const onvifIncidents = () => gw.gateway.store.listIncidents({ source: ['onvif'], limit: 1000 });

  beforeAll(async () => {
    // terminationS 60 < the 75 s renew margin: every loop renews, so Renew is exercised.
    gate = new OnvifTestCamera('admin', 'right-password', { holdMs: 50, terminationS: 60 });
    yard = new OnvifTestCamera('admin', 'camera-password', { holdMs: 50 });
    await gate.start();
    await yard.start();
    gw = await startGateway({
      scoring: { enabled: false },
      onvif: {
        enabled: true,
        holdoff_s: 30,
        backoff_min_ms: 20,
        backoff_max_ms: 200,
        auth_retry_s: 3600,
        timeout_ms: 2000,
        max_response_bytes: 64 * 1024,
        cameras: [
          { id: 'gate', address: gate.address, username: 'admin', password: 'right-password' },
          { id: 'yard', address: `127.0.0.1:${yard.port}`, username: 'admin', password: 'wrong-password' },
        ],
      },
    });
    cams = gw.gateway.get('onvif')!;
    await wait(() => expect(health('gate').state).toBe('up'));
  });

  afterAll(async () => {
    await gw?.stop();
    await gate?.stop();
    await yard?.stop();
  });

  it('turns Hikvision and Axis analytics events into incidents, with levels from the topic map', async () => {
    const t = '2026-03-02T10:00:00Z';
    gate.push(
      // Hikvision intrusion (field detection) start, then its end (ignored).
      notification('tns1:RuleEngine/FieldDetector/ObjectsInside', { VideoSourceConfigurationToken: 'VideoSourceToken', VideoAnalyticsConfigurationToken: 'VideoAnalyticsToken', Rule: 'MyFieldDetector1' }, { IsInside: 'true' }, t),
      notification('tns1:RuleEngine/FieldDetector/ObjectsInside', { VideoSourceConfigurationToken: 'VideoSourceToken', VideoAnalyticsConfigurationToken: 'VideoAnalyticsToken', Rule: 'MyFieldDetector1' }, { IsInside: 'false' }, '2026-03-02T10:00:04Z'),
      // Hikvision line crossing: no boolean, an ObjectId.
      notification('tns1:RuleEngine/LineDetector/Crossed', { VideoSourceConfigurationToken: 'VideoSourceToken', VideoAnalyticsConfigurationToken: 'VideoAnalyticsToken', Rule: 'MyLineDetector1' }, { ObjectId: '1842' }, '2026-03-02T10:00:01Z'),
      // Axis tampering (tnsaxis topic, value 1).
      notification('tns1:VideoSource/tnsaxis:Tampering', { channel: '1' }, { tampering: '1' }, '2026-03-02T10:00:02Z'),
      // Motion: mapped, but off by default.
      notification('tns1:RuleEngine/CellMotionDetector/Motion', { VideoSourceConfigurationToken: 'VideoSourceToken', VideoAnalyticsConfigurationToken: 'VideoAnalyticsToken', Rule: 'MyMotionDetectorRule' }, { IsMotion: 'true' }, '2026-03-02T10:00:03Z'),
      // A subscription's initial state is not an event.
      notification('tns1:RuleEngine/TamperDetector/Tamper', { VideoSourceConfigurationToken: 'VideoSourceToken' }, { IsTamper: 'true' }, '2026-03-02T09:59:00Z', 'Initialized'),
    );
    await wait(() => expect(onvifIncidents()).toHaveLength(3));
    const byKind = new Map(onvifIncidents().map((s) => {
      const i = gw.gateway.store.getIncident(s.incident_id)!;
      return [i.source_ref!.kind as string, i];
    }));
    const intrusion = byKind.get('intrusion')!;
    expect(intrusion).toMatchObject({ source: 'onvif', source_key: 'gate', camera_id: 'gate', threat_level: 'MEDIUM', timestamp: '2026-03-02T10:00:00.000Z' });
    expect(intrusion.source_ref).toMatchObject({ topic: 'tns1:RuleEngine/FieldDetector/ObjectsInside', source: { Rule: 'MyFieldDetector1' }, data: { IsInside: 'true' } });
    expect(intrusion.behavior_summary).toBe('ONVIF intrusion on gate: RuleEngine/FieldDetector/ObjectsInside (rule MyFieldDetector1)');
    expect(byKind.get('line_crossing')!.threat_level).toBe('LOW');
    expect(byKind.get('tampering')!.threat_level).toBe('MEDIUM');
    // Planned like any report of its level.
    expect(gw.gateway.store.actionsFor(intrusion.incident_id).map((a) => a.action_type)).toEqual(['start_recording', 'alert_user']);
    expect(cams.get('gate')!.counters).toMatchObject({ stored: 3, ignored: 3 });
    expect(gate.calls.Renew).toBeGreaterThan(0);
  });

  it('takes repeats of one topic and source within the hold-off window as one event', async () => {
    const before = cams.get('gate')!.counters.deduplicated;
    const repeat = (s: string) =>
      notification('tns1:RuleEngine/FieldDetector/ObjectsInside', { VideoSourceConfigurationToken: 'VideoSourceToken', VideoAnalyticsConfigurationToken: 'VideoAnalyticsToken', Rule: 'MyFieldDetector1' }, { IsInside: 'true' }, `2026-03-02T10:00:${s}Z`);
    gate.push(repeat('10'), repeat('11'), repeat('12'));
    await wait(() => expect(cams.get('gate')!.counters.deduplicated).toBe(before + 3));
    expect(onvifIncidents()).toHaveLength(3);
  });

  it('shows wrong credentials as one clear per-camera error and does not retry them in a storm', async () => {
    await wait(() => expect(health('yard').state).toBe('auth_failed'));
    const h = health('yard');
    expect(h.status).toBe('degraded');
    expect(h.error.code).toBe('ONVIF_AUTH_FAILED');
    expect(h.error.message).toMatch(/refused the ONVIF credentials.*Sender not Authorized/);
    expect(Date.parse(h.retry_at) - Date.now()).toBeGreaterThan(3000 * 1000);
    const failures = yard.authFailures;
    // Bound the work, not the time: while the good camera completes 20 more pulls, the bad one makes no request.
    const pulls = cams.get('gate')!.counters.pulls;
    await wait(() => expect(cams.get('gate')!.counters.pulls).toBeGreaterThanOrEqual(pulls + 20));
    expect(yard.authFailures).toBe(failures);
    expect(yard.calls.CreatePullPointSubscription ?? 0).toBe(0);
    expect(health('gate').status).toBe('up');
  });

  it('refuses billion-laughs, XXE and oversized responses, counts them, stores nothing from them, and keeps pulling', async () => {
    const stored = onvifIncidents().length;
    const huge = `<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>${'<x>padding</x>'.repeat(10_000)}</s:Body></s:Envelope>`;
    gate.rawPulls.push(billionLaughs(), externalEntity(), huge);
    await wait(() => expect(cams.get('gate')!.counters.refused).toMatchObject({ XML_DTD_REFUSED: 2, PAYLOAD_TOO_LARGE: 1 }));
    expect(onvifIncidents()).toHaveLength(stored);
    // Still running: the next event is stored.
    gate.push(notification('tns1:RuleEngine/LineDetector/Crossed', { Rule: 'SecondLine' }, { ObjectId: '7' }, '2026-03-02T10:05:00Z'));
    await wait(() => expect(onvifIncidents()).toHaveLength(stored + 1));
    for (const s of onvifIncidents()) expect(JSON.stringify(gw.gateway.store.getIncident(s.incident_id))).not.toMatch(/lol|passwd|root:/);
  });

  it('shows a camera that goes away as degraded, backs off, and resubscribes when it comes back', async () => {
    const port = gate.port;
    const subscriptions = gate.calls.CreatePullPointSubscription!;
    await gate.stop();
    await wait(() => expect(health('gate').state).toBe('degraded'));
    expect(health('gate').error.code).toBe('ONVIF_UNREACHABLE');
    expect((await getJson(`${gw.httpUrl}/health`)).body.components['onvif:gate'].status).toBe('degraded');
    await gate.start(port);
    await wait(() => expect(health('gate').state).toBe('up'));
    expect(gate.calls.CreatePullPointSubscription).toBe(subscriptions + 1);
    const stored = onvifIncidents().length;
    gate.push(notification('tns1:RuleEngine/FieldDetector/ObjectsInside', { Rule: 'AfterRestart' }, { IsInside: 'true' }, '2026-03-02T11:00:00Z'));
    await wait(() => expect(onvifIncidents()).toHaveLength(stored + 1));
  });
});
