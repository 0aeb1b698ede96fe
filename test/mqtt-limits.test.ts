import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectMqtt, getJson, seedReport, startGateway, type TestGateway } from './helpers.js';

describe('MQTT packet size guard', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ mqtt: { host: '127.0.0.1', port: 0, max_packet_bytes: 512 * 1024 } });
  });
  afterAll(async () => {
    await gw.stop();
  });

  it('disconnects a client announcing a packet over mqtt.max_packet_bytes, before buffering it', async () => {
    const flooder = await connectMqtt(gw.mqttUrl, { clientId: 'flooder' });
    const closed = new Promise<void>((resolve) => flooder.once('close', () => resolve()));
    flooder.publish('safesphere/cameras/flooder/threats', Buffer.alloc(600 * 1024, 0x20), { qos: 1 });
    await closed;
    expect(gw.gateway.get('broker')!.counters.oversize).toBe(1);
    flooder.end(true);
  });

  it('keeps serving other cameras, including reports split across many TCP chunks', async () => {
    const camera = await connectMqtt(gw.mqttUrl, { clientId: 'cam-ok' });
    // ~200 KiB: below both limits, read by aedes in several chunks.
    const report = seedReport({ incident_id: 'INC_BIG_OK', full_telemetry: { blob: 'x'.repeat(200 * 1024) } });
    await camera.publishAsync('safesphere/cameras/cam-ok/threats', JSON.stringify(report), { qos: 1 });
    await camera.publishAsync('safesphere/cameras/cam-ok/threats', JSON.stringify(seedReport({ incident_id: 'INC_SMALL' })), { qos: 1 });
    expect((await getJson(`${gw.httpUrl}/incidents/INC_BIG_OK`)).status).toBe(200);
    expect((await getJson(`${gw.httpUrl}/incidents/INC_SMALL`)).status).toBe(200);
    expect(gw.gateway.get('broker')!.counters.oversize).toBe(1);
    await camera.endAsync();
  });
});
