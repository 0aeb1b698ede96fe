// Safe-route guidance end to end: GET /api/routes against live incidents, the 409 when every
// exit is cut off, and the CRITICAL safe_route action's payload (real embedded Node-RED).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson, seedReport, startGateway, type TestGateway } from './helpers.js';
import { CAMERA_TOKEN, SITE, auth, getAuthed } from './ops-fixtures.js';
import type { ActionMessage } from '../src/automation/types.js';

let n = 0;
const report = (camera: string, level: string) =>
  seedReport({ incident_id: `INC_ROUTE_${++n}`, camera_id: camera, threat_level: level, threat_score: level === 'CRITICAL' ? 0.9 : 0.7, weapon_detected: false, weapon_types: [] });

describe('safe routes', () => {
  let gw: TestGateway;
  const delivered: ActionMessage[] = [];

  beforeAll(async () => {
    gw = await startGateway({
      ...SITE,
      scoring: { enabled: false },
      nodered: { enabled: true, host: '127.0.0.1', port: 0 },
    });
    // A flow node of our own, registered like the shipped `safesphere action` node does.
    gw.gateway.get('automation')!.tracker.registerActionNode({
      id: 'test-safe-route',
      filter: { types: ['safe_route'], levels: [], cameras: [], zones: [] },
      deliver: (m) => delivered.push(m),
    });
  }, 60_000);
  afterAll(async () => {
    await gw?.stop();
  });

  it('takes the shortest exit when nothing is active, with distance and police station', async () => {
    const { status, body } = await getAuthed(`${gw.httpUrl}/api/routes?from=lobby`);
    expect(status).toBe(200);
    expect(body).toMatchObject({ path: ['lobby', 'hall', 'north'], exit: { id: 'exit-n', name: 'north exit' }, distance_m: 55, avoided_zones: [] });
    expect(body.police_station.name).toBe('Central police station');
  });

  it('needs the operator token, names an unknown zone', async () => {
    expect((await fetch(`${gw.httpUrl}/api/routes?from=lobby`)).status).toBe(401);
    const r = await getAuthed(`${gw.httpUrl}/api/routes?from=roof`);
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('UNKNOWN_ZONE');
  });

  it('avoids the zone with an active HIGH incident, and the CRITICAL safe_route action carries the route', async () => {
    expect((await postJson(`${gw.httpUrl}/threats/report`, report('cam-2', 'HIGH'), auth(CAMERA_TOKEN))).status).toBe(200);
    const { body } = await getAuthed(`${gw.httpUrl}/api/routes?from=lobby`);
    expect(body.path).toEqual(['lobby', 'south']);
    expect(body.exit.id).toBe('exit-s');
    expect(body.avoided_zones).toEqual(['hall']);
    expect(body.distance_m).toBe(65);

    // A CRITICAL in the lobby: its safe_route action leads out of the lobby, around the hall.
    const critical = report('cam-1', 'CRITICAL');
    expect((await postJson(`${gw.httpUrl}/threats/report`, critical, auth(CAMERA_TOKEN))).status).toBe(200);
    await expect.poll(() => delivered.find((m) => m.incident.incident_id === critical.incident_id), { timeout: 15_000 }).toBeTruthy();
    const msg = delivered.find((m) => m.incident.incident_id === critical.incident_id)!;
    expect(msg.action.type).toBe('safe_route');
    expect(msg.route).toMatchObject({
      ok: true,
      from: 'lobby',
      path: ['lobby', 'south'],
      exit: { id: 'exit-s', name: 'south exit' },
      avoided_zones: ['hall', 'lobby'],
    });
  }, 30_000);

  it('answers 409 when no exit is reachable, and a resolved incident stops blocking', async () => {
    const south = report('cam-4', 'HIGH');
    expect((await postJson(`${gw.httpUrl}/threats/report`, south, auth(CAMERA_TOKEN))).status).toBe(200);
    const r = await getAuthed(`${gw.httpUrl}/api/routes?from=lobby`);
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('NO_SAFE_ROUTE');
    expect(r.body.avoided_zones).toEqual(['hall', 'lobby', 'south']);

    const resolved = await postJson(`${gw.httpUrl}/incidents/${south.incident_id}/resolve`, { by: 'guard-1', note: 'cleared' }, auth());
    expect(resolved.status).toBe(200);
    expect(resolved.body.status).toMatchObject({ state: 'resolved', resolved_by: 'guard-1' });
    const again = await getAuthed(`${gw.httpUrl}/api/routes?from=lobby`);
    expect(again.status).toBe(200);
    expect(again.body.exit.id).toBe('exit-s');
  });

  it('refuses a status change without an operator or token', async () => {
    expect((await postJson(`${gw.httpUrl}/incidents/INC_ROUTE_1/acknowledge`, { by: 'x' })).status).toBe(401);
    const bad = await postJson(`${gw.httpUrl}/incidents/INC_ROUTE_1/acknowledge`, { note: 1 }, auth());
    expect(bad.status).toBe(422);
    expect(bad.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual(['by', 'note']);
    expect((await postJson(`${gw.httpUrl}/incidents/NOPE/acknowledge`, { by: 'x' }, auth())).status).toBe(404);
  });
});
