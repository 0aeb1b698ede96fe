// Test harness: a real gateway in-process on port 0 with a temporary data dir.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import mqtt, { type MqttClient } from 'mqtt';
import { loadConfig } from '../src/config/load.js';
import type { GatewayConfig } from '../src/config/schema.js';
import { Gateway, type GatewayOptions } from '../src/gateway.js';
import { createLogger } from '../src/logger.js';

export function tempDir(prefix = 'safesphere-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Captures JSON log lines so tests can assert on them. */
export class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    for (const line of chunk.toString().split('\n')) if (line.trim()) this.lines.push(JSON.parse(line) as Record<string, unknown>);
    cb();
  }
}

export interface TestGateway {
  gateway: Gateway;
  config: GatewayConfig;
  dataDir: string;
  logs: LogCapture;
  httpUrl: string;
  mqttUrl: string;
  stop(): Promise<void>;
}

export async function startGateway(
  overrides: Record<string, unknown> = {},
  options: GatewayOptions & { dataDir?: string } = {},
): Promise<TestGateway> {
  const dataDir = options.dataDir ?? tempDir();
  const config = loadConfig({
    overrides: {
      data_dir: dataDir,
      http: { host: '127.0.0.1', port: 0 },
      mqtt: { host: '127.0.0.1', port: 0 },
      log: { level: 'info' },
      // Node-RED is a per-process singleton and takes a second to boot: on only where a test asks.
      nodered: { enabled: false, port: 0 },
      // Contacts and escalation carry no action types unless a test asks (`notify: {}` for the shipped
      // list): other features' tests count exact outbox and feed rows and expect a healthy /health,
      // as they did when every planned action stayed pending without Node-RED.
      notify: { action_types: [] },
      ...overrides,
    },
  });
  const logs = new LogCapture();
  const gateway = new Gateway(config, createLogger(config.log.level, logs), options);
  await gateway.start();
  return {
    gateway,
    config,
    dataDir,
    logs,
    httpUrl: `http://127.0.0.1:${gateway.get('http')!.port}`,
    mqttUrl: `mqtt://127.0.0.1:${gateway.get('broker')!.port}`,
    async stop() {
      await gateway.stop();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function connectMqtt(url: string, options: mqtt.IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
}

/** The seed document's example report. */
export function seedReport(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    incident_id: 'INC_20260210_143045_001',
    timestamp: '2026-02-10T14:30:45.123',
    threat_level: 'CRITICAL',
    threat_score: 0.87,
    people_count: 2,
    weapon_detected: true,
    weapon_types: ['gun'],
    behavior_summary: 'Following + approaching rapidly',
    is_critical: true,
    full_telemetry: { frame: 1042, tracks: [{ id: 3, speed_mps: 2.4 }] },
    ...overrides,
  };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

export async function getJson(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.json() };
}

/** Whether `topic` matches the MQTT filter `filter` (+ and #). */
function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}

/**
 * Resolves with the next message on `topic`. Listens before subscribing: a retained message
 * (or one routed at once) can arrive in the same read as the SUBACK, before an await resumes.
 */
export async function nextMessage(client: MqttClient, topic: string, timeoutMs = 5000): Promise<{ topic: string; payload: Buffer }> {
  let onMessage: (t: string, payload: Buffer) => void = () => {};
  let timer: NodeJS.Timeout | undefined;
  const next = new Promise<{ topic: string; payload: Buffer }>((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no message on ${topic} within ${timeoutMs} ms`)), timeoutMs);
    onMessage = (t: string, payload: Buffer) => {
      if (!topicMatches(topic, t)) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve({ topic: t, payload });
    };
    client.on('message', onMessage);
  });
  try {
    await client.subscribeAsync(topic, { qos: 1 });
  } catch (err) {
    clearTimeout(timer);
    client.off('message', onMessage);
    throw err;
  }
  return next;
}
