// Load for the durability and fault tests: cameras publishing QoS 1 (several in flight each) and HTTP
// clients posting, recording exactly which incident_ids were acknowledged (PUBACK / 200).
import Database from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { join } from 'node:path';
import { waitFor, type Daemon } from '../daemon.js';

const LEVELS = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
export type Via = 'mqtt' | 'http';

export function reportFor(id: string, n: number, camera: string, via: Via): string {
  return JSON.stringify({
    incident_id: id,
    timestamp: new Date(Date.UTC(2026, 1, 10, 14, 0, 0) + n * 1000).toISOString(),
    threat_level: LEVELS[n % 4],
    threat_score: (n % 100) / 100,
    people_count: n % 7,
    weapon_detected: n % 5 === 0,
    weapon_types: n % 5 === 0 ? ['knife'] : [],
    behavior_summary: `fault run, report ${n}`,
    is_critical: n % 4 === 3,
    full_telemetry: { frame: n },
    ...(via === 'http' ? { camera_id: camera } : {}),
  });
}

export const cameraTopic = (camera: string) => `safesphere/cameras/${camera}/threats`;

export interface Sent {
  via: Via;
  camera: string;
  payload: string;
}

/** One round of load against one daemon; `sent`/`acked` are shared across rounds. */
export class Load {
  inFlight = 0;
  stopped = false;
  onAck: () => void = () => {};
  private readonly clients: MqttClient[] = [];
  private readonly finished: Promise<void>[] = [];

  constructor(
    readonly sent: Map<string, Sent>,
    readonly acked: Map<string, Via>,
    private readonly prefix: string,
    private readonly opts = { cameras: 4, window: 16, httpWorkers: 2, httpWindow: 2 },
  ) {}

  async start(daemon: Daemon): Promise<void> {
    for (let c = 0; c < this.opts.cameras; c++) {
      const camera = `${this.prefix}-cam-${c}`;
      const client = await mqtt.connectAsync(daemon.mqttUrl, { clientId: camera, reconnectPeriod: 0, connectTimeout: 5000 });
      this.clients.push(client);
      this.finished.push(this.runCamera(client, camera));
    }
    for (let w = 0; w < this.opts.httpWorkers; w++) {
      for (let k = 0; k < this.opts.httpWindow; k++) this.finished.push(this.runHttp(daemon.httpUrl, `${this.prefix}-http-${w}`, k));
    }
  }

  /** Reports sent and not (yet) acknowledged. */
  get unacked(): string[] {
    return [...this.sent.keys()].filter((id) => !this.acked.has(id));
  }

  countVia(via: Via): number {
    return [...this.acked.values()].filter((v) => v === via).length;
  }

  settled(timeoutMs = 10_000): Promise<void> {
    return waitFor(Promise.all(this.finished).then(() => undefined), timeoutMs, 'the load generators to notice the daemon is gone');
  }

  close(): void {
    this.stopped = true;
    for (const c of this.clients) c.end(true);
  }

  private runCamera(client: MqttClient, camera: string): Promise<void> {
    return new Promise((resolve) => {
      let n = 0;
      let mine = 0;
      let closed = false;
      client.on('error', () => {});
      client.once('close', () => {
        closed = true;
        resolve();
      });
      const pump = () => {
        while (!closed && !this.stopped && mine < this.opts.window) {
          const id = `${camera}-${n}`;
          const payload = reportFor(id, n++, camera, 'mqtt');
          this.sent.set(id, { via: 'mqtt', camera, payload });
          mine++;
          this.inFlight++;
          client.publish(cameraTopic(camera), payload, { qos: 1 }, (err) => {
            mine--;
            this.inFlight--;
            if (!err) {
              this.acked.set(id, 'mqtt');
              this.onAck();
            }
            setImmediate(pump);
          });
        }
      };
      pump();
    });
  }

  private async runHttp(url: string, camera: string, lane: number): Promise<void> {
    for (let n = lane; !this.stopped; n += this.opts.httpWindow) {
      const id = `${camera}-${n}`;
      const payload = reportFor(id, n, camera, 'http');
      this.sent.set(id, { via: 'http', camera, payload });
      this.inFlight++;
      let status = 0;
      try {
        const res = await fetch(`${url}/threats/report`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload });
        status = res.status;
        if (status === 200) {
          this.acked.set(id, 'http');
          this.onAck();
        }
        await res.arrayBuffer().catch(() => undefined);
      } catch {
        status = 0;
      } finally {
        this.inFlight--;
      }
      if (status !== 200) return;
    }
  }
}

/** Sends every not-yet-acknowledged report again, with the same content; returns the refusals. */
export async function resendUnacked(daemon: Daemon, sent: Map<string, Sent>, acked: Map<string, Via>): Promise<string[]> {
  const refused: string[] = [];
  const cams = new Map<string, MqttClient>();
  try {
    for (const [id, s] of sent) {
      if (acked.has(id)) continue;
      if (s.via === 'mqtt') {
        let c = cams.get(s.camera);
        if (!c) {
          c = await mqtt.connectAsync(daemon.mqttUrl, { clientId: `${s.camera}-resend`, reconnectPeriod: 0, connectTimeout: 5000 });
          cams.set(s.camera, c);
        }
        try {
          await waitFor(c.publishAsync(cameraTopic(s.camera), s.payload, { qos: 1 }), 10_000, `PUBACK for ${id}`);
          acked.set(id, 'mqtt');
        } catch (err) {
          refused.push(`${id}: ${(err as Error).message}`);
        }
      } else {
        const res = await fetch(`${daemon.httpUrl}/threats/report`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: s.payload });
        if (res.status === 200) acked.set(id, 'http');
        else refused.push(`${id}: HTTP ${res.status}`);
        await res.arrayBuffer();
      }
    }
  } finally {
    for (const c of cams.values()) c.end(true);
  }
  return refused;
}

export function readDatabase(dataDir: string) {
  const db = new Database(join(dataDir, 'safesphere.db'), { readonly: true, fileMustExist: true });
  try {
    return {
      integrity: db.pragma('integrity_check', { simple: true }) as string,
      duplicates: db.prepare('SELECT incident_id, count(*) AS n FROM incidents GROUP BY incident_id HAVING count(*) > 1').all() as { incident_id: string; n: number }[],
      rows: db.prepare('SELECT incident_id, source FROM incidents').all() as { incident_id: string; source: Via }[],
    };
  } finally {
    db.close();
  }
}
