// Durability of the real daemon under load: every report acknowledged (MQTT PUBACK or
// HTTP 200) before a SIGKILL or a SIGTERM is in the database exactly once afterwards.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon, mapLimit, reapDaemons, waitFor } from './daemon.js';
import { tempDir } from './helpers.js';
import { cameraTopic, Load, reportFor, type Via } from './faults/load.js';

const MQTT_CAMERAS = 4;
const MQTT_WINDOW = 16; // QoS 1 publishes in flight per camera
const HTTP_WORKERS = 4;
const HTTP_WINDOW = 2; // requests in flight per HTTP worker
const LOAD_SHAPE = { cameras: MQTT_CAMERAS, window: MQTT_WINDOW, httpWorkers: HTTP_WORKERS, httpWindow: HTTP_WINDOW };

interface Row {
  incident_id: string;
  source: Via;
  camera_id: string | null;
  seq: number;
}

/** Reads the database file directly, read-only, while no daemon is running. */
function readDatabase(dataDir: string) {
  const db = new Database(join(dataDir, 'safesphere.db'), { readonly: true, fileMustExist: true });
  try {
    return {
      integrity: db.pragma('integrity_check', { simple: true }) as string,
      duplicates: db
        .prepare('SELECT incident_id, count(*) AS n FROM incidents GROUP BY incident_id HAVING count(*) > 1')
        .all() as { incident_id: string; n: number }[],
      rows: db.prepare('SELECT incident_id, source, camera_id, seq FROM incidents').all() as Row[],
    };
  } finally {
    db.close();
  }
}

const missingFrom = (ids: Iterable<string>, stored: Set<string>) => [...ids].filter((id) => !stored.has(id));

describe('durability of acknowledged reports across daemon crashes and stops', () => {
  const dirs: string[] = [];
  const loads: Load[] = [];
  const clients: MqttClient[] = [];

  afterEach(async () => {
    for (const l of loads.splice(0)) l.close();
    for (const c of clients.splice(0)) c.end(true);
    await reapDaemons();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it(
    'SIGKILL mid-stream loses no acknowledged report; after a restart each is stored exactly once and new reports are accepted',
    async () => {
      const dataDir = tempDir('safesphere-durability-');
      dirs.push(dataDir);
      const first = await Daemon.start(dataDir);

      // Kill on an ack count, not on a timer, while reports are in flight on both transports.
      const KILL_AT = 600;
      const load = new Load(new Map(), new Map(), 'kill', LOAD_SHAPE);
      loads.push(load);
      let inFlightAtKill = -1;
      let ackedAtKill = -1;
      load.onAck = () => {
        const count = load.acked.size;
        if (count >= KILL_AT && inFlightAtKill < 0) {
          inFlightAtKill = load.inFlight;
          ackedAtKill = count;
          first.child.kill('SIGKILL');
        }
      };
      await load.start(first);
      const exit = await waitFor(first.exited, 15_000, `the daemon to reach ${KILL_AT} acks and die`);
      expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
      await load.settled();
      load.close();

      expect(ackedAtKill).toBeGreaterThanOrEqual(KILL_AT);
      expect(inFlightAtKill, 'reports in flight when the daemon was killed').toBeGreaterThan(0);
      expect(load.countVia('mqtt'), 'PUBACKed reports').toBeGreaterThan(0);
      expect(load.countVia('http'), 'HTTP 200 reports').toBeGreaterThan(0);

      // Restart on the same data dir: every acknowledged report is served by the API.
      const second = await Daemon.start(dataDir);
      const lost: string[] = [];
      await mapLimit([...load.acked], 16, async ([id, via]) => {
        const res = await fetch(`${second.httpUrl}/incidents/${encodeURIComponent(id)}`);
        const body = (await res.json()) as { incident_id?: string; source?: string };
        if (res.status !== 200 || body.incident_id !== id || body.source !== via) lost.push(`${id} (${via}): ${res.status}`);
      });
      expect(lost, 'acknowledged before the SIGKILL but missing after the restart').toEqual([]);

      // The cameras and HTTP clients resend what was never acknowledged, with the same content:
      // each must be accepted (stored or recognised as a duplicate), never refused.
      const resendCameras = new Map<string, MqttClient>();
      const refused: string[] = [];
      await mapLimit(load.unacked, 16, async (id) => {
        const sent = load.sent.get(id)!;
        if (sent.via === 'mqtt') {
          let client = resendCameras.get(sent.camera);
          if (!client) {
            client = mqtt.connect(second.mqttUrl, { clientId: sent.camera, reconnectPeriod: 0, connectTimeout: 5000 });
            clients.push(client);
            resendCameras.set(sent.camera, client);
          }
          await waitFor(client.publishAsync(cameraTopic(sent.camera), sent.payload, { qos: 1 }), 10_000, `PUBACK for resent ${id}`).catch(
            (err: Error) => refused.push(`${id}: ${err.message}`),
          );
        } else {
          const res = await fetch(`${second.httpUrl}/threats/report`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: sent.payload,
          });
          if (res.status !== 200) refused.push(`${id}: HTTP ${res.status} ${await res.text()}`);
          else await res.arrayBuffer();
        }
      });
      expect(refused, 'resent un-acknowledged reports the restarted daemon refused').toEqual([]);

      // The restarted daemon accepts brand-new reports normally, on both transports.
      const fresh: { id: string; via: Via }[] = [];
      const camera = await mqtt.connectAsync(second.mqttUrl, { clientId: 'after-restart-cam', reconnectPeriod: 0, connectTimeout: 5000 });
      clients.push(camera);
      await Promise.all(
        Array.from({ length: 20 }, async (_, n) => {
          const id = `after-restart-mqtt-${n}`;
          await camera.publishAsync(cameraTopic('after-restart-cam'), reportFor(id, n, 'after-restart-cam', 'mqtt'), { qos: 1 });
          fresh.push({ id, via: 'mqtt' });
        }),
      );
      await Promise.all(
        Array.from({ length: 20 }, async (_, n) => {
          const id = `after-restart-http-${n}`;
          const res = await fetch(`${second.httpUrl}/threats/report`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: reportFor(id, n, 'after-restart-http', 'http'),
          });
          expect(res.status).toBe(200);
          expect(await res.json()).toMatchObject({ success: true, incident_id: id, duplicate: false });
          fresh.push({ id, via: 'http' });
        }),
      );
      for (const { id, via } of fresh) {
        const res = await fetch(`${second.httpUrl}/incidents/${id}`);
        expect(res.status, id).toBe(200);
        expect(await res.json()).toMatchObject({ incident_id: id, source: via });
      }
      const health = await fetch(`${second.httpUrl}/health`);
      expect(health.status).toBe(200);
      await health.arrayBuffer();
      camera.end(true);
      for (const c of resendCameras.values()) c.end(true);

      expect(await second.kill('SIGTERM')).toEqual({ code: 0, signal: null });

      // The file itself: intact, no incident_id twice, every acknowledged one present,
      // nothing that was never sent, and the seq numbering never reused after the crash.
      const { integrity, duplicates, rows } = readDatabase(dataDir);
      expect(integrity).toBe('ok');
      expect(duplicates).toEqual([]);
      const stored = new Set(rows.map((r) => r.incident_id));
      expect(missingFrom(load.acked.keys(), stored), 'acknowledged but not in the database').toEqual([]);
      expect(missingFrom(load.sent.keys(), stored), 'resent after the restart but not in the database').toEqual([]);
      expect(missingFrom(fresh.map((f) => f.id), stored), 'sent after the restart but not in the database').toEqual([]);
      const expected = new Set([...load.sent.keys(), ...fresh.map((f) => f.id)]);
      expect(rows.filter((r) => !expected.has(r.incident_id)).map((r) => r.incident_id), 'rows nobody sent').toEqual([]);
      expect(rows).toHaveLength(expected.size);
      expect(new Set(rows.map((r) => r.seq)).size).toBe(rows.length);
      for (const r of rows) {
        const via = load.sent.get(r.incident_id)?.via ?? fresh.find((f) => f.id === r.incident_id)!.via;
        expect(r.source, r.incident_id).toBe(via);
      }
    },
    30_000,
  );

  it('SIGTERM with reports in flight exits 0 within 5 s, and everything acknowledged is stored once', async () => {
    const dataDir = tempDir('safesphere-durability-');
    dirs.push(dataDir);
    const daemon = await Daemon.start(dataDir);

    const TERM_AT = 400;
    const load = new Load(new Map(), new Map(), 'term', LOAD_SHAPE);
    loads.push(load);
    let termed = false;
    let inFlightAtTerm = -1;
    load.onAck = () => {
      const count = load.acked.size;
      if (count >= TERM_AT && !termed) {
        termed = true;
        inFlightAtTerm = load.inFlight;
        // The cameras and HTTP clients keep sending through the shutdown.
        daemon.child.kill('SIGTERM');
      }
    };
    await load.start(daemon);
    const exit = await waitFor(daemon.exited, 20_000, `the daemon to reach ${TERM_AT} acks and stop`);
    const errors = daemon.lines
      .filter((l) => (l.level ?? 0) >= 50)
      .map((l) => `${l.msg}: ${(l.err as { message?: string } | undefined)?.message ?? ''}`);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(inFlightAtTerm, 'reports in flight when SIGTERM was sent').toBeGreaterThan(0);
    // The stop's time limit is the daemon's own (shutdown.timeout_ms): a step that overruns it
    // logs an error ("component did not stop cleanly", or exit 1 on "shutdown overran its
    // budget"), so exit 0 and no error log bound the stop without timing it here.
    // Soft: the durability checks below must still run.
    expect.soft(errors, 'error logs during the graceful stop').toEqual([]);
    expect(daemon.lines.some((l) => l.msg === 'shutting down' && l.signal === 'SIGTERM')).toBe(true);
    expect(daemon.lines.some((l) => l.msg === 'stopped')).toBe(true);
    await load.settled();
    load.close();

    const { integrity, duplicates, rows } = readDatabase(dataDir);
    expect(integrity).toBe('ok');
    expect(duplicates).toEqual([]);
    const stored = new Set(rows.map((r) => r.incident_id));
    expect(load.acked.size).toBeGreaterThanOrEqual(TERM_AT);
    expect(missingFrom(load.acked.keys(), stored), 'acknowledged before the stop but not in the database').toEqual([]);
    expect(rows.filter((r) => !load.sent.has(r.incident_id)), 'rows nobody sent').toEqual([]);
  });
});
