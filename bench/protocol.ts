// What the bench orchestrator (bench/ingest.ts, which owns the server) and the load
// generator child (bench/loadgen.ts) say to each other over the fork() IPC channel,
// plus the small statistics helpers both sides use.

/** A report body with everything but the incident_id (and camera_id) fixed. */
export type ReportTemplate = Record<string, unknown>;

interface JobBase {
  /** Prefix of every incident_id this job sends; unique per scenario. */
  idPrefix: string;
  template: ReportTemplate;
}

/** Closed loop: N MQTT connections, each keeping `window` QoS 1 publishes in flight. */
export interface MqttClosedJob extends JobBase {
  kind: 'mqtt-closed';
  url: string;
  clients: number;
  window: number;
  warmupMs: number;
  durationMs: number;
}

/** Open loop: a timer-based pacer offering `rate` QoS 1 publishes/s round-robin over N connections. */
export interface MqttPacedJob extends JobBase {
  kind: 'mqtt-paced';
  url: string;
  clients: number;
  rate: number;
  warmupMs: number;
  durationMs: number;
}

/** Closed loop: autocannon, N connections, a fixed number of POSTs after a warm-up run. */
export interface HttpClosedJob extends JobBase {
  kind: 'http-closed';
  url: string;
  connections: number;
  warmupAmount: number;
  /** Seconds of load to size the measured run from the warm-up rate. */
  targetSeconds: number;
  minAmount: number;
  maxAmount: number;
}

/** Open loop: a timer-based pacer offering `rate` POSTs/s round-robin over N keep-alive connections. */
export interface HttpPacedJob extends JobBase {
  kind: 'http-paced';
  url: string;
  connections: number;
  rate: number;
  warmupMs: number;
  durationMs: number;
}

export type Job = MqttClosedJob | MqttPacedJob | HttpClosedJob | HttpPacedJob;

export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface LoadResult {
  kind: Job['kind'];
  /** Requests/publishes issued over the whole job, warm-up included. */
  sent: number;
  /** Acknowledged successfully (PUBACK, or HTTP 2xx) over the whole job, warm-up included. */
  acked: number;
  /** Errors, timeouts, non-2xx answers, publishes never acknowledged. */
  failed: number;
  non2xx: number;
  /** Acks inside the measured window, its length, and their ratio. */
  measuredAcks: number;
  measuredSeconds: number;
  rate: number;
  /** Latency (ms) of requests issued inside the measured window. */
  latency: LatencySummary;
  /** CPU used by the load generator process during the measured window, % of one core. */
  cpuPercent: number;
  /** Paced jobs: how late the pacer ever fired relative to its schedule (ms). */
  pacerLagMaxMs?: number;
  /** Paced jobs: the rate actually offered in the measured window. */
  offeredRate?: number;
}

export type ParentMessage = { type: 'run'; job: Job };

export type ChildMessage =
  | { type: 'ready' }
  | { type: 'phase'; phase: 'measure-start' | 'measure-end' }
  | { type: 'result'; result: LoadResult }
  | { type: 'error'; message: string };

/** Nearest-rank percentiles over raw samples (sorted in place). */
export function summarize(samples: number[]): LatencySummary {
  if (samples.length === 0) return { count: 0, mean: NaN, p50: NaN, p90: NaN, p99: NaN, max: NaN };
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.max(0, Math.ceil(q * samples.length) - 1))]!;
  let sum = 0;
  for (const s of samples) sum += s;
  return {
    count: samples.length,
    mean: sum / samples.length,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: samples[samples.length - 1]!,
  };
}

/** `{"incident_id":"<id>","camera_id":"<cam>",...template}` without a JSON.stringify per message. */
export function bodyFactory(template: ReportTemplate, withCamera: boolean): (id: string, camera: string) => string {
  const { incident_id: _ignored, camera_id: _ignoredToo, ...rest } = template;
  const tail = JSON.stringify(rest).slice(1); // drop the opening brace
  const sep = tail === '}' ? '' : ',';
  return withCamera
    ? (id, camera) => `{"incident_id":"${id}","camera_id":"${camera}"${sep}${tail}`
    : (id) => `{"incident_id":"${id}"${sep}${tail}`;
}
