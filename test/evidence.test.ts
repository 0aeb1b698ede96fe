// Evidence snapshots: sharp processing, refusals, held snapshots, and HTTP/MQTT parity.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectMqtt, getJson, postJson, seedReport, startGateway, type TestGateway } from './helpers.js';
import { jpegWithGps, pngBomb, solidImage, uploadRaw, uploadSnapshot } from './evidence-fixtures.js';
import { sqlite } from './sqlite.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const report = (id: string, extra: Record<string, unknown> = {}) =>
  seedReport({ incident_id: id, threat_level: 'MEDIUM', threat_score: 0.5, weapon_detected: false, weapon_types: [], is_critical: false, ...extra });

async function fetchImage(url: string): Promise<{ status: number; bytes: Buffer; type: string | null }> {
  const res = await fetch(url);
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), type: res.headers.get('content-type') };
}

describe('evidence snapshots', () => {
  let gw: TestGateway;
  let camera: MqttClient;
  let watcher: MqttClient;
  const rejects: { topic: string; body: any }[] = [];
  /** The next reject message on `topic` after `from` messages (collected since beforeAll). */
  async function rejectAfter(from: number, topic: string): Promise<any> {
    await expect.poll(() => rejects.slice(from).find((r) => r.topic === topic), { timeout: 5000, interval: 20 }).toBeDefined();
    return rejects.slice(from).find((r) => r.topic === topic)!.body;
  }

  beforeAll(async () => {
    gw = await startGateway({
      scoring: { enabled: false },
      snapshots: { max_bytes: 512 * 1024, max_pixels: 10_000_000, hold_s: 1, hold_max_count: 3 },
    });
    camera = await connectMqtt(gw.mqttUrl, { clientId: 'cam-snap' });
    watcher = await connectMqtt(gw.mqttUrl);
    watcher.on('message', (topic, payload) => rejects.push({ topic, body: JSON.parse(payload.toString()) }));
    await watcher.subscribeAsync('safesphere/gateway/rejects/#', { qos: 1 });
  });
  afterAll(async () => {
    await camera?.endAsync();
    await watcher?.endAsync();
    await gw?.stop();
  });

  it('stores a real JPEG with EXIF GPS without any metadata, auto-oriented, with the SHA-256 of the original', async () => {
    const original = await jpegWithGps(64, 32);
    const before = await sharp(original).metadata();
    expect(before.exif).toBeDefined();
    expect(before.orientation).toBe(6);
    expect(original.includes(Buffer.from('SECRET-OWNER-NAME'))).toBe(true);

    expect((await postJson(`${gw.httpUrl}/threats/report`, report('INC_GPS'))).status).toBe(200);
    const up = await uploadSnapshot(gw.httpUrl, 'INC_GPS', original);
    expect(up.status).toBe(200);
    expect(up.body).toMatchObject({
      success: true,
      incident_id: 'INC_GPS',
      filename: 'INC_GPS_screenshot.jpg',
      path: join('snapshots', 'INC_GPS_screenshot.jpg'),
      status: 'attached',
      sha256: sha(original),
      // Orientation 6 applied: 64x32 becomes 32x64.
      width: 32,
      height: 64,
    });

    for (const kind of ['snapshot', 'thumbnail']) {
      const served = await fetchImage(`${gw.httpUrl}/incidents/INC_GPS/${kind}`);
      expect(served.status).toBe(200);
      expect(served.type).toBe('image/jpeg');
      const meta = await sharp(served.bytes).metadata();
      expect(meta.format).toBe('jpeg');
      expect(meta.exif).toBeUndefined();
      expect(meta.icc).toBeUndefined();
      expect(meta.xmp).toBeUndefined();
      expect(meta.iptc).toBeUndefined();
      expect(meta.orientation).toBeUndefined();
      expect(served.bytes.includes(Buffer.from('Exif'))).toBe(false);
      expect(served.bytes.includes(Buffer.from('SECRET-OWNER-NAME'))).toBe(false);
      expect(served.bytes.includes(Buffer.from('CamCo'))).toBe(false);
      expect([meta.width, meta.height]).toEqual([32, 64]);
    }

    const incident = await getJson(`${gw.httpUrl}/incidents/INC_GPS`);
    expect(incident.body.snapshot).toMatchObject({ sha256: sha(original), original_format: 'jpeg', original_bytes: original.length, width: 32, height: 64, source: 'http' });
    // The reference is queued for upstream sync in the same transaction.
    const outbox = sqlite(gw.gateway.store)
      .prepare("SELECT payload FROM outbox WHERE incident_id = 'INC_GPS' AND kind = 'snapshot'")
      .all() as { payload: string }[];
    expect(outbox).toHaveLength(1);
    expect(JSON.parse(outbox[0]!.payload)).toMatchObject({ path: join('snapshots', 'INC_GPS_screenshot.jpg'), sha256: sha(original) });
  });

  it('makes a thumbnail of at most snapshots.thumbnail_px on its longest side', async () => {
    await postJson(`${gw.httpUrl}/threats/report`, report('INC_BIG'));
    const big = await solidImage('jpeg', 1920, 1080);
    expect((await uploadSnapshot(gw.httpUrl, 'INC_BIG', big)).status).toBe(200);
    const thumb = await sharp((await fetchImage(`${gw.httpUrl}/incidents/INC_BIG/thumbnail`)).bytes).metadata();
    expect([thumb.width, thumb.height]).toEqual([320, 180]);
    const full = await sharp((await fetchImage(`${gw.httpUrl}/incidents/INC_BIG/snapshot`)).bytes).metadata();
    expect([full.width, full.height]).toEqual([1920, 1080]);
  });

  it('judges by content: a PNG named .jpg is stored (as a JPEG), a text file named .jpg is a 415', async () => {
    await postJson(`${gw.httpUrl}/threats/report`, report('INC_PNG'));
    const png = await solidImage('png', 50, 40);
    const ok = await uploadSnapshot(gw.httpUrl, 'INC_PNG', png, 'photo.jpg', 'image/jpeg');
    expect(ok.status).toBe(200);
    expect((await getJson(`${gw.httpUrl}/incidents/INC_PNG`)).body.snapshot.original_format).toBe('png');
    expect((await sharp((await fetchImage(`${gw.httpUrl}/incidents/INC_PNG/snapshot`)).bytes).metadata()).format).toBe('jpeg');

    await postJson(`${gw.httpUrl}/threats/report`, report('INC_TXT'));
    const text = Buffer.from('#!/bin/sh\necho this is not an image\n');
    const refused = await uploadSnapshot(gw.httpUrl, 'INC_TXT', text, 'photo.jpg', 'image/jpeg');
    expect(refused.status).toBe(415);
    expect(refused.body.error).toMatchObject({ code: 'UNSUPPORTED_IMAGE', details: [{ path: 'file' }] });
    // A file with a JPEG signature that does not decode is refused too.
    const truncated = (await solidImage('jpeg', 64, 64)).subarray(0, 200);
    expect((await uploadSnapshot(gw.httpUrl, 'INC_TXT', truncated)).status).toBe(415);
    expect((await getJson(`${gw.httpUrl}/incidents/INC_TXT`)).body.snapshot).toBeNull();
    expect((await fetchImage(`${gw.httpUrl}/incidents/INC_TXT/snapshot`)).status).toBe(404);
  });

  it('answers 413 for a file over snapshots.max_bytes and for a decompression bomb', async () => {
    await postJson(`${gw.httpUrl}/threats/report`, report('INC_HUGE'));
    // Random pixels do not compress: well over the 512 KiB limit.
    const noisy = await sharp(Buffer.from(Array.from({ length: 1000 * 1000 * 3 }, (_, i) => (i * 7919) % 251)), { raw: { width: 1000, height: 1000, channels: 3 } })
      .png({ compressionLevel: 0 })
      .toBuffer();
    expect(noisy.length).toBeGreaterThan(512 * 1024);
    const big = await uploadSnapshot(gw.httpUrl, 'INC_HUGE', noisy, 'big.png', 'image/png');
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('IMAGE_TOO_LARGE');

    // 60000 x 60000 pixels (3.6 G) in a few KB: refused from the header, nothing decoded.
    const bomb = pngBomb(60000);
    expect(bomb.length).toBeLessThan(64 * 1024);
    // Nothing decoded, bounded by memory rather than time: 3.6 G pixels decoded would be GBs.
    const rssBefore = process.memoryUsage().rss;
    const refused = await uploadSnapshot(gw.httpUrl, 'INC_HUGE', bomb, 'bomb.png', 'image/png');
    expect(refused.status).toBe(413);
    expect(refused.body.error.details[0].message).toContain('60000x60000');
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(256 * 1024 * 1024);
    // A real, small-on-disk image over max_pixels (4000x4000 = 16 MP > 10 MP).
    const flat = await sharp({ create: { width: 4000, height: 4000, channels: 3, background: { r: 0, g: 0, b: 0 } } }).png().toBuffer();
    expect(flat.length).toBeLessThan(512 * 1024);
    expect((await uploadSnapshot(gw.httpUrl, 'INC_HUGE', flat, 'flat.png', 'image/png')).status).toBe(413);
    expect((await getJson(`${gw.httpUrl}/incidents/INC_HUGE`)).body.snapshot).toBeNull();
  });

  it('answers 400 for a path-traversal incident_id or file name, and writes nothing outside the snapshot dir', async () => {
    const img = await solidImage('jpeg', 16, 16);
    for (const id of ['../../etc/passwd', '..', 'a/b', 'INC 1', '']) {
      const res = await uploadSnapshot(gw.httpUrl, id, img);
      expect(res.status, id).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'INVALID_SNAPSHOT', details: [{ path: 'incident_id' }] });
    }
    await postJson(`${gw.httpUrl}/threats/report`, report('INC_NAME'));
    for (const name of ['../../etc/passwd', '..\\..\\boot.ini', '/etc/shadow']) {
      const res = await uploadRaw(gw.httpUrl, 'INC_NAME', img, name);
      expect(res.status, name).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'INVALID_SNAPSHOT', details: [{ path: 'file.filename' }] });
    }
    expect(existsSync(join(gw.dataDir, '..', 'etc'))).toBe(false);
    const files = readdirSync(join(gw.dataDir, 'snapshots'));
    expect(files.every((f) => /^[A-Za-z0-9_.:-]+_(screenshot|thumb)\.jpg$/.test(f))).toBe(true);
    // A plain but odd upload name is fine: it is never used.
    expect((await uploadRaw(gw.httpUrl, 'INC_NAME', img, 'passwd')).status).toBe(200);
    expect(readdirSync(join(gw.dataDir, 'snapshots'))).not.toContain('passwd');
  });

  it('holds a snapshot that arrives before its report and attaches it when the report commits', async () => {
    const img = await solidImage('webp', 120, 80);
    const early = await uploadSnapshot(gw.httpUrl, 'INC_EARLY', img, 'early.webp', 'image/webp');
    expect(early.status).toBe(200);
    expect(early.body.status).toBe('held');
    const notYet = await getJson(`${gw.httpUrl}/incidents/INC_EARLY/snapshot`);
    expect(notYet.status).toBe(404);
    expect(notYet.body.error.details[0].message).toContain('held');

    const attached = new Promise<string>((resolve) => {
      const off = gw.gateway.bus.on('snapshot.attached', (e) => {
        if (e.incident_id === 'INC_EARLY') {
          off();
          resolve(e.sha256);
        }
      });
    });
    expect((await postJson(`${gw.httpUrl}/threats/report`, report('INC_EARLY'))).status).toBe(200);
    expect(await attached).toBe(sha(img));
    const incident = await getJson(`${gw.httpUrl}/incidents/INC_EARLY`);
    expect(incident.body.snapshot).toMatchObject({ sha256: sha(img), original_format: 'webp', width: 120, height: 80 });
    expect((await fetchImage(`${gw.httpUrl}/incidents/INC_EARLY/snapshot`)).status).toBe(200);
    expect(sqlite(gw.gateway.store).prepare('SELECT count(*) AS n FROM snapshots_held').get()).toEqual({ n: 0 });
  });

  it('drops a held snapshot whose report never comes, with a log line, and bounds the hold oldest-first', async () => {
    const img = await solidImage('jpeg', 20, 20);
    expect((await uploadSnapshot(gw.httpUrl, 'INC_NEVER', img)).body.status).toBe('held');
    // hold_s is 1: the drop is logged and the files go.
    await expect
      .poll(() => gw.logs.lines.find((l) => l.msg === 'held snapshot dropped' && l.incident_id === 'INC_NEVER'), { timeout: 5000, interval: 50 })
      .toMatchObject({ reason: expect.stringContaining('hold_s') });
    expect(existsSync(join(gw.dataDir, 'snapshots', 'INC_NEVER_screenshot.jpg'))).toBe(false);

    for (const id of ['H1', 'H2', 'H3', 'H4']) expect((await uploadSnapshot(gw.httpUrl, `INC_${id}`, await solidImage('jpeg', 20, 21 + id.length))).body.status).toBe('held');
    const dropped = gw.logs.lines.filter((l) => l.msg === 'held snapshot dropped' && String(l.reason).includes('full'));
    expect(dropped.map((l) => l.incident_id)).toEqual(['INC_H1']);
    expect(gw.gateway.get('snapshots')!.isHeld('INC_H1')).toBe(false);
    expect(gw.gateway.get('snapshots')!.isHeld('INC_H4')).toBe(true);
  });

  it('keeps evidence: the same bytes again are a duplicate, different bytes a 409', async () => {
    const first = await solidImage('jpeg', 30, 30, { r: 1, g: 2, b: 3 });
    const again = await uploadSnapshot(gw.httpUrl, 'INC_BIG', await solidImage('jpeg', 1920, 1080));
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ status: 'duplicate', duplicate: true });
    const other = await uploadSnapshot(gw.httpUrl, 'INC_BIG', first);
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('SNAPSHOT_CONFLICT');
    const full = await sharp((await fetchImage(`${gw.httpUrl}/incidents/INC_BIG/snapshot`)).bytes).metadata();
    expect(full.width).toBe(1920);
  });

  it('MQTT and HTTP ingest behave the same: same stored result, same refusals (PUBACK + reject message)', async () => {
    const img = await jpegWithGps(64, 32);
    await postJson(`${gw.httpUrl}/threats/report`, report('INC_VIA_HTTP'));
    await camera.publishAsync('safesphere/cameras/cam-snap/threats', JSON.stringify(report('INC_VIA_MQTT')), { qos: 1 });
    const viaHttp = await uploadSnapshot(gw.httpUrl, 'INC_VIA_HTTP', img);
    expect(viaHttp.status).toBe(200);
    // QoS 1: the PUBACK comes after the snapshot is stored.
    await camera.publishAsync('safesphere/cameras/cam-snap/snapshots/INC_VIA_MQTT', img, { qos: 1 });
    const a = (await getJson(`${gw.httpUrl}/incidents/INC_VIA_HTTP`)).body.snapshot;
    const b = (await getJson(`${gw.httpUrl}/incidents/INC_VIA_MQTT`)).body.snapshot;
    expect(b).toMatchObject({ source: 'mqtt', camera_id: 'cam-snap' });
    for (const k of ['sha256', 'jpeg_sha256', 'width', 'height', 'original_format', 'original_bytes', 'stored_bytes']) expect(b[k], k).toEqual(a[k]);
    const [fa, fb] = await Promise.all([
      fetchImage(`${gw.httpUrl}/incidents/INC_VIA_HTTP/snapshot`),
      fetchImage(`${gw.httpUrl}/incidents/INC_VIA_MQTT/snapshot`),
    ]);
    expect(fb.bytes.equals(fa.bytes)).toBe(true);

    // The same refusals, in the same error shape.
    const cases: { topicId: string; payload: Buffer; httpId: string; status: number; code: string }[] = [
      { topicId: 'INC_VIA_MQTT2', payload: Buffer.from('not an image'), httpId: 'INC_VIA_HTTP2', status: 415, code: 'UNSUPPORTED_IMAGE' },
      { topicId: 'INC_VIA_MQTT2', payload: pngBomb(60000), httpId: 'INC_VIA_HTTP2', status: 413, code: 'IMAGE_TOO_LARGE' },
      { topicId: 'INC_VIA_MQTT2', payload: Buffer.alloc(600 * 1024, 0xff), httpId: 'INC_VIA_HTTP2', status: 413, code: 'IMAGE_TOO_LARGE' },
      { topicId: '..', payload: img, httpId: '..', status: 400, code: 'INVALID_SNAPSHOT' },
    ];
    for (const c of cases) {
      const http = await uploadSnapshot(gw.httpUrl, c.httpId, c.payload);
      expect(http.status).toBe(c.status);
      const from = rejects.length;
      await camera.publishAsync(`safesphere/cameras/cam-snap/snapshots/${c.topicId}`, c.payload, { qos: 1 });
      const msg = await rejectAfter(from, 'safesphere/gateway/rejects/cam-snap');
      expect(msg).toMatchObject({ error: { code: c.code }, camera_id: 'cam-snap' });
      expect(msg.error).toEqual(http.body.error);
    }

    // A camera cannot attach evidence to another camera's incident.
    const from = rejects.length;
    const other = await connectMqtt(gw.mqttUrl, { clientId: 'cam-other' });
    await other.publishAsync('safesphere/cameras/cam-other/snapshots/INC_VIA_MQTT', await solidImage('jpeg', 10, 10), { qos: 1 });
    expect((await rejectAfter(from, 'safesphere/gateway/rejects/cam-other')).error.code).toBe('SNAPSHOT_CONFLICT');
    await other.endAsync();
    expect(gw.gateway.get('broker')!.snapshotCounters.accepted).toBe(1);
  });

  it('shows the evidence counters in /health', async () => {
    const { body } = await getJson(`${gw.httpUrl}/health`);
    expect(body.components.evidence).toMatchObject({ status: 'up', attached_from_hold: 1, dropped_full: 1 });
    expect(body.components.evidence.dropped_expired).toBeGreaterThanOrEqual(1);
  });
});
