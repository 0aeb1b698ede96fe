// One load process of bench/shipped.ts, forked with `node --import tsx`: plain mqtt.js
// clients (default options, no socket tweaks), so the daemon is measured the way cameras
// reach it. It takes one job over IPC and answers with its result.
import { performance } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';

export type LoadJob =
  | {
      /** Paced open loop: `rate` reports/s in all, round-robin over `clients` connections. */
      kind: 'paced';
      url: string;
      clients: number;
      rate: number;
      seconds: number;
      level: 'LOW' | 'HIGH' | 'CRITICAL';
      prefix: string;
    }
  | {
      /** Closed loop: `total` reports, each client keeping `inflight` unacknowledged. */
      kind: 'burst';
      url: string;
      clients: number;
      inflight: number;
      total: number;
      level: 'LOW' | 'HIGH' | 'CRITICAL';
      prefix: string;
    }
  | {
      /**
       * One camera that publishes CRITICAL reports and subscribes to the siren's command
       * topic on the same connection; latency from publish() to the siren's ON for that report.
       */
      kind: 'siren';
      url: string;
      rate: number;
      seconds: number;
      sirenTopic: string;
      prefix: string;
    };

export interface LoadOutcome {
  sent: number;
  acked: number;
  /** Incident ids acknowledged (PUBACK), for the store check. */
  ackedIds: string[];
  seconds: number;
  /** From the first publish to the last PUBACK. */
  ackSpan: number;
  ackLatency: number[];
  sirenLatency: number[];
  pacerMaxLagMs: number;
  errors: number;
}

export function report(level: 'LOW' | 'HIGH' | 'CRITICAL', id: string): string {
  const weapon = level === 'CRITICAL';
  return JSON.stringify({
    incident_id: id,
    timestamp: new Date().toISOString().slice(0, 23),
    threat_level: level,
    threat_score: level === 'CRITICAL' ? 0.95 : level === 'HIGH' ? 0.75 : 0.1,
    people_count: 2,
    weapon_detected: weapon,
    weapon_types: weapon ? ['gun'] : [],
    behavior_summary: 'bench',
    is_critical: weapon,
  });
}

async function connect(url: string, count: number, prefix: string): Promise<MqttClient[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => mqtt.connectAsync(url, { clientId: `${prefix}-${i}`, reconnectPeriod: 0 })));
}

async function settle(waitFor: () => boolean, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (!waitFor() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

async function paced(job: Extract<LoadJob, { kind: 'paced' | 'siren' }>): Promise<LoadOutcome> {
  const clients = await connect(job.url, job.kind === 'siren' ? 1 : job.clients, job.prefix);
  const sentAt = new Map<string, number>();
  const ackedIds: string[] = [];
  const ackLatency: number[] = [];
  const sirenLatency: number[] = [];
  let errors = 0;
  if (job.kind === 'siren') {
    const camera = clients[0]!;
    await camera.subscribeAsync(job.sirenTopic, { qos: 1 });
    camera.on('message', (_topic, payload) => {
      const msg = JSON.parse(payload.toString()) as { state?: string; incident_id?: string };
      const at = msg.incident_id ? sentAt.get(msg.incident_id) : undefined;
      if (msg.state === 'ON' && at !== undefined) {
        sirenLatency.push(performance.now() - at);
        sentAt.delete(msg.incident_id!);
      }
    });
  }
  const level = job.kind === 'siren' ? 'CRITICAL' : job.level;
  const total = Math.round(job.rate * job.seconds);
  const started = performance.now();
  let sent = 0;
  let maxLag = 0;
  let lastAck = started;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * job.rate) + 1);
      maxLag = Math.max(maxLag, ((due - sent - 1) / job.rate) * 1000);
      for (; sent < due; sent++) {
        const id = `${job.prefix}_${sent}`;
        const client = clients[sent % clients.length]!;
        const at = performance.now();
        sentAt.set(id, at);
        client.publish(`safesphere/cameras/${job.prefix}-${sent % clients.length}/threats`, report(level, id), { qos: 1 }, (err) => {
          if (err) return void errors++;
          ackedIds.push(id);
          lastAck = performance.now();
          ackLatency.push(lastAck - at);
        });
      }
      if (sent >= total) resolve();
      else setTimeout(tick, Math.max(0, (sent / job.rate) * 1000 - (performance.now() - started)));
    };
    tick();
  });
  const seconds = (performance.now() - started) / 1000;
  await settle(() => ackedIds.length + errors >= total && (job.kind !== 'siren' || sirenLatency.length >= ackedIds.length), 15_000);
  await Promise.all(clients.map((c) => c.endAsync()));
  return { sent: total, acked: ackedIds.length, ackedIds, seconds, ackSpan: (lastAck - started) / 1000, ackLatency, sirenLatency, pacerMaxLagMs: maxLag, errors };
}

async function burst(job: Extract<LoadJob, { kind: 'burst' }>): Promise<LoadOutcome> {
  const clients = await connect(job.url, job.clients, job.prefix);
  const ackedIds: string[] = [];
  const ackLatency: number[] = [];
  let next = 0;
  let errors = 0;
  const started = performance.now();
  await Promise.all(
    clients.map(
      (client, c) =>
        new Promise<void>((resolve) => {
          let open = 0;
          const pump = () => {
            while (open < job.inflight && next < job.total) {
              const id = `${job.prefix}_${next++}`;
              const at = performance.now();
              open++;
              client.publish(`safesphere/cameras/${job.prefix}-${c}/threats`, report(job.level, id), { qos: 1 }, (err) => {
                open--;
                if (err) errors++;
                else {
                  ackedIds.push(id);
                  ackLatency.push(performance.now() - at);
                }
                pump();
              });
            }
            if (open === 0 && next >= job.total) resolve();
          };
          client.on('close', () => {
            // A refusal closes the connection: what it had in flight is not acknowledged.
            errors += open;
            open = 0;
            resolve();
          });
          pump();
        }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(clients.map((c) => c.endAsync(true)));
  return { sent: next, acked: ackedIds.length, ackedIds, seconds, ackSpan: seconds, ackLatency, sirenLatency: [], pacerMaxLagMs: 0, errors };
}

process.once('message', (job: LoadJob) => {
  (job.kind === 'burst' ? burst(job) : paced(job)).then(
    (outcome) => process.send!({ ok: true, outcome }, () => process.exit(0)),
    (err: Error) => process.send!({ ok: false, error: err.stack ?? err.message }, () => process.exit(1)),
  );
});
