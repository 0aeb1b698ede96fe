// The safesphere arc node in the real embedded Node-RED: an installer's own event (a panic
// button) goes to the monitoring station (iobroker.sia's receiver, in-process) and the node's
// first output carries the receiver's ACK.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSiaReceiver, type SiaReceiverHandle } from './arc-receiver.js';
import { connectMqtt, startGateway, tempDir, type TestGateway } from './helpers.js';

const KEY = '00112233445566778899AABBCCDDEEFF';
const FLOWS = [
  { id: 'tab', type: 'tab', label: 'arc test' },
  { id: 'rcv', type: 'safesphere arc receiver', name: 'the ARC', account: '' },
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
    payload: '{"text":"panic button at the back door"}',
    payloadType: 'json',
    wires: [['arc']],
  },
  { id: 'arc', type: 'safesphere arc', z: 'tab', name: 'panic', receiver: 'rcv', sia: 'PA', cid: '120', zone: '12', restore: false, text: '', wires: [['ok'], ['bad']] },
  { id: 'ok', type: 'change', z: 'tab', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'arc', tot: 'msg' }], wires: [['pubok']] },
  { id: 'bad', type: 'change', z: 'tab', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'arc', tot: 'msg' }], wires: [['pubbad']] },
  { id: 'pubok', type: 'safesphere publish', z: 'tab', topic: 'test/arc/ack', qos: '1', retain: false, wires: [] },
  { id: 'pubbad', type: 'safesphere publish', z: 'tab', topic: 'test/arc/nak', qos: '1', retain: false, wires: [] },
];

describe('the safesphere arc node', () => {
  let gw: TestGateway;
  let arc: SiaReceiverHandle;
  let watcher: MqttClient;
  const out: { topic: string; body: any }[] = [];

  beforeAll(async () => {
    arc = await startSiaReceiver({ account: '5A7', key: KEY });
    const dir = tempDir();
    const flows = join(dir, 'flows.json');
    writeFileSync(flows, JSON.stringify(FLOWS));
    gw = await startGateway({
      notify: {},
      arc: { account: '5A7', key: KEY, primary: { host: '127.0.0.1', port: arc.port }, supervision_s: 0, test_report_h: 0 },
      nodered: { enabled: true, host: '127.0.0.1', port: 0, flows_file: flows },
    });
    watcher = await connectMqtt(gw.mqttUrl);
    watcher.on('message', (topic, p) => out.push({ topic, body: JSON.parse(p.toString()) }));
    await watcher.subscribeAsync('test/arc/#', { qos: 1 });
  }, 60_000);
  afterAll(async () => {
    await watcher?.endAsync();
    await gw?.stop();
    await arc?.close();
  });

  it('sends the flow\'s event to the ARC and outputs its ACK', async () => {
    await expect.poll(() => arc.received.length, { timeout: 30_000, interval: 25 }).toBe(1);
    expect(arc.received[0]).toMatchObject({ id: '*SIA-DCS', act: '5A7', data_message: '#5A7|Nri1/PA012', data_extended: 'Isite site-1: panic button at the back door' });
    await expect.poll(() => out.length, { timeout: 10_000, interval: 25 }).toBe(1);
    expect(out[0]).toMatchObject({ topic: 'test/arc/ack', body: { ok: true, path: 'primary', seq: Number(arc.received[0]!.seq), tries: 1 } });
  });
});
