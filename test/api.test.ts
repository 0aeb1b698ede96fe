import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { connectMqtt, getJson, nextMessage, postJson, seedReport, startGateway, type TestGateway } from './helpers.js';

describe('the seed report round-trips through every query endpoint', () => {
  let gw: TestGateway;
  let camera: MqttClient;

  beforeAll(async () => {
    gw = await startGateway();
    camera = await connectMqtt(gw.mqttUrl, { clientId: 'cam-7' });
  });
  afterAll(async () => {
    await camera.endAsync();
    await gw.stop();
  });

  it('accepts the seed example over HTTP with the seed response body', async () => {
    const res = await postJson(`${gw.httpUrl}/threats/report`, seedReport());
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      success: true,
      incident_id: 'INC_20260210_143045_001',
      action_taken: 'EMERGENCY_PROTOCOL',
      duplicate: false,
    });
    expect(res.body.message).toContain('CRITICAL');
    expect(res.body.actions.map((a: { action_type: string }) => a.action_type)).toContain('armed_threat_escalation');
  });

  it('serves it from GET /incidents/{id} field for field, with its actions', async () => {
    const { status, body } = await getJson(`${gw.httpUrl}/incidents/INC_20260210_143045_001`);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      incident_id: 'INC_20260210_143045_001',
      timestamp: '2026-02-10T14:30:45.123',
      threat_level: 'CRITICAL',
      // threat_score is the re-scorer's calibrated probability; the camera's stays in reported_score.
      threat_score: expect.any(Number),
      model_version: expect.stringMatching(/^lr-/),
      people_count: 2,
      weapon_detected: true,
      weapon_types: '["gun"]',
      behavior_summary: 'Following + approaching rapidly',
      is_critical: true,
      status: 'logged',
      action_taken: 'EMERGENCY_PROTOCOL',
      response_time_ms: null,
      reported_level: 'CRITICAL',
      reported_score: 0.87,
      source: 'http',
      full_telemetry: { frame: 1042, tracks: [{ id: 3, speed_mps: 2.4 }] },
    });
    expect(typeof body.id).toBe('number');
    expect(body.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect(body.actions).toHaveLength(7);
    expect(body.actions.every((a: { status: string }) => a.status === 'pending')).toBe(true);
  });

  it('lists it in GET /incidents and /incidents/threat_level/CRITICAL', async () => {
    const list = await getJson(`${gw.httpUrl}/incidents?threat_level=CRITICAL&limit=50`);
    expect(list.body.count).toBe(1);
    expect(list.body.incidents[0]).toMatchObject({ incident_id: 'INC_20260210_143045_001', threat_level: 'CRITICAL', reported_level: 'CRITICAL' });
    expect(list.body.incidents[0].created_at).toBeDefined();
    const byLevel = await getJson(`${gw.httpUrl}/incidents/threat_level/CRITICAL`);
    expect(byLevel.body).toMatchObject({ threat_level: 'CRITICAL', count: 1 });
    const none = await getJson(`${gw.httpUrl}/incidents/threat_level/LOW`);
    expect(none.body.count).toBe(0);
  });

  it('answers a repeated incident_id idempotently and a changed one with 409', async () => {
    const again = await postJson(`${gw.httpUrl}/threats/report`, seedReport());
    expect(again.status).toBe(200);
    expect(again.body.duplicate).toBe(true);
    expect(again.body.incident.incident_id).toBe('INC_20260210_143045_001');
    const changed = await postJson(`${gw.httpUrl}/threats/report`, seedReport({ threat_score: 0.5 }));
    expect(changed.status).toBe(409);
    expect(changed.body.error.code).toBe('INCIDENT_CONFLICT');
    const list = await getJson(`${gw.httpUrl}/incidents`);
    expect(list.body.count).toBe(1);
  });

  it('ingests an MQTT QoS 1 report, taking the camera id from the topic, and publishes the incident', async () => {
    const watcher = await connectMqtt(gw.mqttUrl);
    const published = nextMessage(watcher, 'safesphere/incidents/HIGH');
    await camera.publishAsync(
      'safesphere/cameras/cam-7/threats',
      JSON.stringify(seedReport({ incident_id: 'INC_MQTT_1', threat_level: 'HIGH', threat_score: 0.7, weapon_detected: false, weapon_types: [] })),
      { qos: 1 },
    );
    // PUBACK has arrived: the incident must already be queryable.
    const { status, body } = await getJson(`${gw.httpUrl}/incidents/INC_MQTT_1`);
    expect(status).toBe(200);
    expect(body).toMatchObject({ camera_id: 'cam-7', source: 'mqtt', action_taken: 'ALERT_POLICE' });
    const msg = JSON.parse((await published).payload.toString());
    expect(msg).toMatchObject({ incident_id: 'INC_MQTT_1', threat_level: 'HIGH' });
    expect(msg.actions.map((a: { action_type: string }) => a.action_type)).toEqual([
      'start_recording',
      'notify_police',
      'notify_emergency_contacts',
      'share_location',
    ]);
    await watcher.endAsync();
  });

  it('publishes a JSON reason on the rejects topic for an invalid MQTT report and stores nothing', async () => {
    const watcher = await connectMqtt(gw.mqttUrl);
    const rejected = nextMessage(watcher, 'safesphere/gateway/rejects/cam-7');
    await camera.publishAsync('safesphere/cameras/cam-7/threats', JSON.stringify({ incident_id: 'INC_BAD', threat_score: 7 }), { qos: 1 });
    const reason = JSON.parse((await rejected).payload.toString());
    expect(reason.error.code).toBe('INVALID_REPORT');
    expect(reason.error.details.map((d: { path: string }) => d.path).sort()).toEqual(['threat_level', 'threat_score', 'timestamp']);
    expect((await getJson(`${gw.httpUrl}/incidents/INC_BAD`)).status).toBe(404);
    expect(gw.gateway.get('broker')!.counters.rejected).toBeGreaterThanOrEqual(1);
    await watcher.endAsync();
  });

  it('keeps a retained online status', async () => {
    const watcher = await connectMqtt(gw.mqttUrl);
    const status = await nextMessage(watcher, 'safesphere/gateway/status');
    expect(status.payload.toString()).toBe('online');
    await watcher.endAsync();
  });

  it('reports statistics that match what was sent, per camera too', async () => {
    const { body } = await getJson(`${gw.httpUrl}/statistics`);
    expect(body.statistics).toMatchObject({
      total_incidents: 2,
      count_LOW: 0,
      count_MEDIUM: 0,
      count_HIGH: 1,
      count_CRITICAL: 1,
      weapons_detected: 1,
      critical_incidents: 2,
    });
    expect(body.statistics.per_camera['cam-7']).toMatchObject({ total_incidents: 1, count_HIGH: 1 });
    expect(body.statistics.last_24h).toMatchObject({ total_incidents: 2, count_CRITICAL: 1 });
  });

  it('reports health per component', async () => {
    const { status, body } = await getJson(`${gw.httpUrl}/health`);
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: 'healthy', service: 'SafeSphere Threat Management API' });
    expect(body.components.db.status).toBe('up');
    expect(body.components.broker.status).toBe('up');
  });

  it('answers 404 with a JSON error for an unknown incident and 400 for an unknown level', async () => {
    const missing = await getJson(`${gw.httpUrl}/incidents/NOPE`);
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('INCIDENT_NOT_FOUND');
    const badLevel = await getJson(`${gw.httpUrl}/incidents/threat_level/SEVERE`);
    expect(badLevel.status).toBe(400);
    expect(badLevel.body.error.details[0].path).toBe('threat_level');
  });

  it('serves OpenAPI docs at /docs', async () => {
    const res = await fetch(`${gw.httpUrl}/docs/json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/threats/report', '/incidents/{incident_id}', '/statistics', '/health']));
  });
});
