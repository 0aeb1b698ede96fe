// The worker boundary (nodered.isolation: worker, the default), on the real daemon: a flow that
// hangs its thread never blocks ingest, and a thread that hangs or dies is detected, logged and
// restarted, and the actions it had in flight are dispatched again to the restarted flows.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon, reapDaemons, type LogLine } from './daemon.js';
import { getJson, postJson, seedReport, tempDir } from './helpers.js';

const dirs: string[] = [];
afterEach(async () => {
  await reapDaemons();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/**
 * One action node for voice_alert: on an action's first dispatch `trap` runs (it hangs or ends
 * the thread); on a later one the action is reported sent_unconfirmed.
 */
function flows(trap: string): unknown[] {
  return [
    { id: 'tab', type: 'tab', label: 'trap', disabled: false, info: '' },
    { id: 'act', type: 'safesphere action', z: 'tab', name: '', types: 'voice_alert', levels: '', cameras: '', zones: '', x: 100, y: 100, wires: [['trap']] },
    {
      id: 'trap',
      type: 'function',
      z: 'tab',
      name: 'trap',
      func: `if (msg.payload.action.attempt === 1) { ${trap} }\nmsg.outcome = 'sent_unconfirmed';\nmsg.detail = 'attempt ' + msg.payload.action.attempt;\nreturn msg;`,
      outputs: 1,
      x: 300,
      y: 100,
      wires: [['result']],
    },
    { id: 'result', type: 'safesphere action result', z: 'tab', name: '', outcome: 'msg', x: 500, y: 100, wires: [] },
  ];
}

async function start(trap: string, env: Record<string, string> = {}): Promise<Daemon> {
  const dir = tempDir();
  dirs.push(dir);
  const file = join(dir, 'trap-flows.json');
  writeFileSync(file, JSON.stringify(flows(trap)));
  return Daemon.start(dir, { SAFESPHERE_NODERED_ENABLED: 'true', SAFESPHERE_NODERED_FLOWS_FILE: file, ...env }, 40_000);
}

/** Polls the API (the daemon is another process) until `check` passes. */
async function until<T>(read: () => Promise<T>, check: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms: ${JSON.stringify(value).slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const voiceAlert = (body: { actions: { action_type: string; status: string; attempts?: number; result: string | null }[] }) =>
  body.actions.find((a) => a.action_type === 'voice_alert')!;
const at = (line: LogLine) => Date.parse(String(line.time));

describe('node-red in its own thread', () => {
  it('a flow stuck in a loop blocks no ingest; the thread is restarted and the action dispatched again', async () => {
    const daemon = await start('while (true) {}', { SAFESPHERE_NODERED_WORKER_STALL_MS: '2000' });
    expect((await postJson(`${daemon.httpUrl}/threats/report`, seedReport({ incident_id: 'INC_HANG' }))).status).toBe(200);
    // While the flow spins, ingest goes on: every report is acknowledged (stored) by the gateway's thread.
    const during: string[] = [];
    for (let i = 0; i < 20; i++) {
      const id = `INC_DURING_${i}`;
      expect((await postJson(`${daemon.httpUrl}/threats/report`, seedReport({ incident_id: id, threat_level: 'HIGH', weapon_detected: false, weapon_types: [] }))).status).toBe(200);
      during.push(id);
    }
    const stalled = await daemon.waitForLog((l) => l.msg === 'node-red thread stopped answering (a flow stuck in a loop?); restarting it', 20_000);
    // Those reports were stored before the heartbeat gave up on the stuck thread: ingest never waited for it.
    const last = await getJson(`${daemon.httpUrl}/incidents/${during.at(-1)}`);
    expect(Date.parse(last.body.created_at)).toBeLessThanOrEqual(at(stalled));

    await daemon.waitForLog((l) => l.msg === 'node-red thread started' && at(l) >= at(stalled), 30_000);
    const incident = await until(
      () => getJson(`${daemon.httpUrl}/incidents/INC_HANG`),
      (r) => voiceAlert(r.body).status === 'sent_unconfirmed',
    );
    expect(voiceAlert(incident.body).result).toBe('attempt 2');
    expect((await getJson(`${daemon.httpUrl}/health`)).body.components.automation.redispatched).toBeGreaterThanOrEqual(1);
    expect((await daemon.kill('SIGTERM')).code).toBe(0);
  }, 90_000);

  it('a thread a flow kills is detected, logged and restarted, and its in-flight actions are dispatched again', async () => {
    // What a crashing contrib node does: ends its thread (here through the sandbox's outer realm).
    const daemon = await start("node.log.constructor('return process')().exit(7);");
    expect((await postJson(`${daemon.httpUrl}/threats/report`, seedReport({ incident_id: 'INC_DIE' }))).status).toBe(200);
    const died = await daemon.waitForLog((l) => l.msg === "node-red thread died; its in-flight actions wait for the restarted flows", 20_000);
    expect(died.code).toBe(7);
    // The daemon serves on while the thread restarts.
    expect((await postJson(`${daemon.httpUrl}/threats/report`, seedReport({ incident_id: 'INC_AFTER_DEATH', threat_level: 'HIGH', weapon_detected: false, weapon_types: [] }))).status).toBe(200);
    await daemon.waitForLog((l) => l.msg === 'node-red thread started' && at(l) >= at(died), 30_000);
    const incident = await until(
      () => getJson(`${daemon.httpUrl}/incidents/INC_DIE`),
      (r) => voiceAlert(r.body).status === 'sent_unconfirmed',
    );
    expect(voiceAlert(incident.body).result).toBe('attempt 2');
    expect(daemon.exitStatus).toBeNull();
    expect((await daemon.kill('SIGTERM')).code).toBe(0);
  }, 90_000);
});
