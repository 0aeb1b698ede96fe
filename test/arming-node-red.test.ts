// The safesphere arming node in the real embedded Node-RED: an inject sets the mode (audited as
// node-red), and every change, whatever made it, comes out of the node.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectMqtt, startGateway, tempDir, type TestGateway } from './helpers.js';

const FLOWS = [
  { id: 'tab', type: 'tab', label: 'arming test' },
  {
    id: 'inj',
    type: 'inject',
    z: 'tab',
    props: [{ p: 'payload' }],
    repeat: '',
    crontab: '',
    once: true,
    onceDelay: '0.5',
    topic: '',
    payload: 'armed_night',
    payloadType: 'str',
    wires: [['arm']],
  },
  { id: 'arm', type: 'safesphere arming', z: 'tab', name: 'night switch', wires: [['out']] },
  { id: 'out', type: 'safesphere publish', z: 'tab', topic: 'test/arming', qos: '1', retain: false, wires: [] },
];

describe('the safesphere arming node', () => {
  let gw: TestGateway;
  let watcher: MqttClient;
  const out: any[] = [];
  const waiters = new Set<() => void>();
  const until = (predicate: () => boolean, what: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => predicate() && (clearTimeout(timer), waiters.delete(check), resolve());
      const timer = setTimeout(() => (waiters.delete(check), reject(new Error(`${what} not seen`))), 30_000);
      waiters.add(check);
      check();
    });

  beforeAll(async () => {
    const dir = tempDir();
    const flows = join(dir, 'flows.json');
    writeFileSync(flows, JSON.stringify(FLOWS));
    gw = await startGateway({ nodered: { enabled: true, host: '127.0.0.1', port: 0, flows_file: flows } });
    watcher = await connectMqtt(gw.mqttUrl);
    watcher.on('message', (_t, p) => {
      out.push(JSON.parse(p.toString()));
      for (const w of waiters) w();
    });
    await watcher.subscribeAsync('test/arming', { qos: 1 });
  }, 60_000);
  afterAll(async () => {
    await watcher?.endAsync();
    await gw?.stop();
  });

  it('sets the mode from a flow, audited as node-red, and sends every change', async () => {
    // The inject fires once the flows run (maybe before this test subscribed): wait on the service itself.
    const arming = gw.gateway.get('arming')!;
    if (arming.mode !== 'armed_night') await new Promise<void>((resolve) => { const off = arming.onChange((c) => c.mode === 'armed_night' && (off(), resolve())); });
    const status = (await (await fetch(`${gw.httpUrl}/arming`)).json()) as any;
    expect(status).toMatchObject({ mode: 'armed_night', by: 'node-red:night switch', via: 'node-red' });
    // A change made elsewhere comes out of the node too.
    await fetch(`${gw.httpUrl}/arming`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mode: 'disarmed', by: 'desk' }) });
    await until(() => out.some((c) => c.mode === 'disarmed'), 'the HTTP change');
    expect(out.find((c) => c.mode === 'disarmed')).toMatchObject({ previous: 'armed_night', via: 'http', by: 'desk (loopback)' });
  });
});
