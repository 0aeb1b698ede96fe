// The act stage when flows misbehave, on the real daemon (a child process, so the entry
// file's own error handling is what is tested): no flow answering, and flows that throw.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { Daemon, reapDaemons } from './daemon.js';
import { getJson, postJson, seedReport, tempDir } from './helpers.js';

const dirs: string[] = [];
afterEach(async () => {
  await reapDaemons();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function flowsFile(dir: string, flows: unknown[]): string {
  const file = join(dir, 'test-flows.json');
  writeFileSync(file, JSON.stringify(flows));
  return file;
}

async function startWithFlows(flows: unknown[], env: Record<string, string> = {}): Promise<Daemon> {
  const dir = tempDir();
  dirs.push(dir);
  return Daemon.start(
    dir,
    {
      SAFESPHERE_NODERED_ENABLED: 'true',
      SAFESPHERE_NODERED_FLOWS_FILE: flowsFile(dir, flows),
      ...env,
    },
    40_000,
  );
}

/** Polls the API until `check` passes: the daemon is another process, its bus is out of reach. */
async function until<T>(read: () => Promise<T>, check: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms: ${JSON.stringify(value).slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('automation faults', () => {
  it('with no flow to answer, actions end timed_out after their retries and health turns degraded', async () => {
    const daemon = await startWithFlows([], {
      SAFESPHERE_AUTOMATION_ACTION_TIMEOUT_MS: '300',
      SAFESPHERE_AUTOMATION_RETRY_BACKOFF_MS: '50',
      SAFESPHERE_AUTOMATION_MAX_ATTEMPTS: '2',
    });
    const health = await getJson(`${daemon.httpUrl}/health`);
    expect(health.body.components.automation.status).toBe('degraded');
    expect(health.body.components.automation.uncovered_action_types).toEqual(expect.arrayContaining(['voice_alert', 'start_recording']));

    const res = await postJson(`${daemon.httpUrl}/threats/report`, seedReport({ incident_id: 'INC_NOBODY', threat_level: 'HIGH', weapon_detected: false, weapon_types: [] }));
    expect(res.status).toBe(200);
    const incident = await until(
      () => getJson(`${daemon.httpUrl}/incidents/INC_NOBODY`),
      (r) => r.body.actions.every((a: { status: string }) => a.status === 'timed_out'),
    );
    expect(incident.body.actions).toHaveLength(4);
    expect(incident.body.response_time_ms).toBeNull();
    for (const a of incident.body.actions) expect(a.result).toMatch(/^no result from a flow/);
    const after = await getJson(`${daemon.httpUrl}/health`);
    expect(after.body.components.automation.problems).toEqual(expect.arrayContaining(['actions timed out recently']));
    expect(after.body.components.automation.timed_out).toBe(4);
    expect(daemon.lines.some((l) => l.msg === 'action timed out')).toBe(true);
  }, 60_000);

  it('a flow that throws (synchronously, in a timer, in an unhandled promise) leaves the daemon serving', async () => {
    const shipped = JSON.parse(readFileSync(new URL('../flows/flows.json', import.meta.url), 'utf8')) as unknown[];
    const throwing = [
      { id: 'bad-tab', type: 'tab', label: 'throwing', disabled: false, info: '' },
      { id: 'bad-action', type: 'safesphere action', z: 'bad-tab', name: '', types: 'voice_alert', levels: '', cameras: '', zones: '', x: 100, y: 100, wires: [['bad-sync', 'bad-timer', 'bad-promise']] },
      { id: 'bad-sync', type: 'function', z: 'bad-tab', name: 'throws', func: "throw new Error('flow bug: sync');", outputs: 1, x: 300, y: 60, wires: [[]] },
      { id: 'bad-timer', type: 'function', z: 'bad-tab', name: 'throws later', func: "setTimeout(() => { throw new Error('flow bug: timer'); }, 1);\nreturn null;", outputs: 1, x: 300, y: 100, wires: [[]] },
      { id: 'bad-promise', type: 'function', z: 'bad-tab', name: 'rejects', func: "Promise.reject(new Error('flow bug: promise'));\nreturn null;", outputs: 1, x: 300, y: 140, wires: [[]] },
    ];
    const daemon = await startWithFlows([...shipped, ...throwing]);
    const siren = await mqtt.connectAsync(daemon.mqttUrl, { reconnectPeriod: 0 });
    await siren.subscribeAsync('safesphere/sirens/siren-1/set', { qos: 1 });
    const sirenOn = new Promise<Record<string, unknown>>((resolve) =>
      siren.on('message', (_t, p) => {
        const msg = JSON.parse(p.toString()) as Record<string, unknown>;
        if (msg.state === 'ON') resolve(msg);
      }),
    );

    for (let i = 0; i < 3; i++) {
      expect((await postJson(`${daemon.httpUrl}/threats/report`, seedReport({ incident_id: `INC_THROW_${i}` }))).status).toBe(200);
    }
    // The shipped siren flow still works alongside the broken one...
    expect((await sirenOn).incident_id).toMatch(/^INC_THROW_/);
    await daemon.waitForLog((l) => JSON.stringify(l).includes('flow bug: promise'));
    await daemon.waitForLog((l) => JSON.stringify(l).includes('flow bug: timer'));
    await daemon.waitForLog((l) => JSON.stringify(l).includes('flow bug: sync'));
    // ...and the daemon keeps serving.
    expect(daemon.exitStatus).toBeNull();
    expect((await getJson(`${daemon.httpUrl}/health`)).status).toBe(200);
    expect((await postJson(`${daemon.httpUrl}/threats/report`, seedReport({ incident_id: 'INC_AFTER_THROW' }))).status).toBe(200);
    await siren.endAsync();
    expect((await daemon.kill('SIGTERM')).code).toBe(0);
  }, 60_000);
});
