// A barrage of reports that break the report contract, over HTTP and MQTT alike. Each must
// be refused with a coded error naming the bad fields (HTTP status / MQTT reject message),
// nothing invalid may be stored, and the gateway and the camera must carry on afterwards.
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectMqtt, getJson, seedReport, startGateway, type TestGateway } from './helpers.js';

const CAMERA = 'cam-barrage';
const REJECTS = `safesphere/gateway/rejects/${CAMERA}`;
/** Where rejects go when the topic's camera id itself is unusable as a topic level. */
const INVALID_REJECTS = 'safesphere/gateway/rejects/_invalid';
const STATUS = { INVALID_REPORT: 422, MALFORMED_JSON: 400, PAYLOAD_TOO_LARGE: 413 } as const;
type Code = keyof typeof STATUS;

/** Bytes sent as they are, for bodies JSON.stringify cannot produce. */
class Raw {
  constructor(readonly bytes: string | Buffer) {}
}
const raw = (bytes: string | Buffer) => new Raw(bytes);
const encode = (body: unknown): string | Buffer => (body instanceof Raw ? body.bytes : JSON.stringify(body));
/**
 * The same payload with its generated incident_ids suffixed, so that a report one transport
 * wrongly accepts cannot turn the other transport's answer into a conflict (latin1 keeps bytes).
 */
const forMqtt = (payload: string | Buffer): string | Buffer => {
  const text = typeof payload === 'string' ? payload : payload.toString('latin1');
  const renamed = text.replace(/"(BAD_R_\d+)"/g, '"$1_M"');
  return typeof payload === 'string' ? renamed : Buffer.from(renamed, 'latin1');
};

let counter = 0;
const uid = (tag: string) => `BAD_${tag}_${++counter}`;
/** A valid report (the seed example) with a fresh incident_id, then `overrides`. */
const report = (overrides: Record<string, unknown> = {}) => seedReport({ incident_id: uid('R'), ...overrides });
/** A report with `field` replaced by `value` (undefined deletes it). */
const withField = (field: string, value: unknown) => {
  const r = report();
  if (value === undefined) delete r[field];
  else r[field] = value;
  return r;
};
/** `levels` nested objects: { n: { n: ... {} } }, the outermost counting as level 1. */
const nested = (levels: number): Record<string, unknown> => {
  let node: Record<string, unknown> = {};
  for (let i = 1; i < levels; i++) node = { n: node };
  return node;
};
/** A valid report whose text has `key: value` spliced in as raw JSON (for __proto__, deep nesting). */
const splice = (key: string, rawValue: string, overrides: Record<string, unknown> = {}) =>
  raw(JSON.stringify(report(overrides)).replace(/^\{/, `{${JSON.stringify(key)}:${rawValue},`));
/** A valid report padded through full_telemetry to exactly `bytes` bytes. */
function reportOfSize(bytes: number, id: string): string {
  const base = JSON.stringify(seedReport({ incident_id: id, full_telemetry: { pad: '' } }));
  return base.replace('"pad":""', `"pad":"${'x'.repeat(bytes - Buffer.byteLength(base))}"`);
}

interface ErrorBody {
  error: { code: string; message: string; details: { path: string; message: string }[] };
}

/** The distinct detail paths of an error body, sorted. */
const pathsOf = (body: unknown): string[] =>
  [...new Set(((body as Partial<ErrorBody> | null)?.error?.details ?? []).map((d) => d.path))].sort();

/** Asserts the one error shape, with exactly the given detail paths (each named at least once). */
function expectError(body: unknown, code: string, paths?: string[]): ErrorBody['error'] {
  expect(body).toMatchObject({ error: { code, message: expect.any(String), details: expect.any(Array) } });
  const { error } = body as ErrorBody;
  expect(error.message.length).toBeGreaterThan(0);
  for (const d of error.details) {
    expect(d).toEqual({ path: expect.any(String), message: expect.any(String) });
    expect(d.message.length).toBeGreaterThan(0);
  }
  if (paths) expect(pathsOf(body)).toEqual([...paths].sort());
  return error;
}

/** Collects every MQTT message a client receives, so a test can await the next one on a topic. */
class Inbox {
  private messages: { topic: string; payload: Buffer }[] = [];
  private wake: (() => void) | null = null;

  push(topic: string, payload: Buffer): void {
    this.messages.push({ topic, payload });
    this.wake?.();
  }

  clear(): void {
    this.messages = [];
  }

  /** Resolves with (and removes) the first message on `topic`, waiting up to `timeoutMs`. */
  async take(topic: string, timeoutMs = 2000): Promise<unknown> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.messages.findIndex((m) => m.topic === topic);
      if (i >= 0) return JSON.parse(this.messages.splice(i, 1)[0]!.payload.toString()) as unknown;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no message on ${topic} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }
}

/** QoS 1 publish that resolves on PUBACK and fails fast if the broker drops the connection instead. */
function publish(client: MqttClient, topic: string, payload: string | Buffer, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`no PUBACK within ${timeoutMs} ms on ${topic}`)), timeoutMs);
    const onClose = () => finish(new Error(`the gateway closed the connection instead of sending a PUBACK on ${topic}`));
    const finish = (err?: Error | null) => {
      clearTimeout(timer);
      client.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    client.once('close', onClose);
    client.publish(topic, payload, { qos: 1 }, (err) => finish(err));
  });
}

describe('bad input: every contract violation is refused, nothing invalid is stored, the gateway carries on', () => {
  let gw: TestGateway;
  let camera: MqttClient;
  const inbox = new Inbox();
  /** Every report the gateway should have stored by the end. */
  const valid = new Set<string>();

  const url = () => `${gw.httpUrl}/threats/report`;

  async function connectCamera(): Promise<MqttClient> {
    const client = await connectMqtt(gw.mqttUrl, { clientId: CAMERA });
    client.on('message', (topic, payload) => inbox.push(topic, payload));
    // Its own rejects topic and every other one, to see where rejects for hostile topics end up.
    await client.subscribeAsync('safesphere/gateway/rejects/+', { qos: 1 });
    return client;
  }

  async function post(payload: string | Buffer, contentType: string | null = 'application/json') {
    const res = await fetch(url(), {
      method: 'POST',
      headers: contentType === null ? {} : { 'content-type': contentType },
      // A Buffer body makes fetch send no content-type of its own.
      body: contentType === null ? Buffer.from(payload) : payload,
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text for the failure message
    }
    return { status: res.status, body };
  }

  /** Publishes on a camera topic, expects a PUBACK and then the reject message for it. */
  async function publishExpectingReject(payload: string | Buffer, topicCamera = CAMERA, rejectTopic = REJECTS) {
    inbox.clear();
    await publish(camera, `safesphere/cameras/${topicCamera}/threats`, payload);
    const reject = await inbox.take(rejectTopic);
    expect(camera.connected, 'the camera is still connected').toBe(true);
    return reject as ErrorBody & { camera_id: string; incident_id: string | null };
  }

  async function expectNotStored(id: string): Promise<void> {
    const res = await fetch(`${gw.httpUrl}/incidents/${encodeURIComponent(id)}`);
    await res.arrayBuffer();
    expect(res.status, `incident ${JSON.stringify(id)} must not be stored`).toBe(404);
  }

  /** Records `id` as accepted (it was answered 200 / PUBACKed), then checks the API serves it. */
  async function expectStored(id: string, source: 'http' | 'mqtt'): Promise<void> {
    valid.add(id);
    const { status, body } = await getJson(`${gw.httpUrl}/incidents/${encodeURIComponent(id)}`);
    expect.soft(status, `GET /incidents/${id} must serve the stored incident`).toBe(200);
    if (status === 200) expect(body).toMatchObject({ incident_id: id, source });
  }

  beforeAll(async () => {
    gw = await startGateway();
    camera = await connectCamera();
  });

  afterEach(async () => {
    // A case that made the gateway drop the camera must not take the following cases down with it.
    if (!camera.connected) {
      camera.end(true);
      camera = await connectCamera();
    }
  });

  afterAll(async () => {
    camera?.end(true);
    await gw?.stop();
  });

  // ---------------------------------------------------------------------------------------
  // The contract, rule by rule. Each case goes over HTTP and over MQTT and must get the same
  // code and the same detail paths on both.
  interface Case {
    name: string;
    body: unknown;
    code: Code;
    paths: string[];
  }
  const MISSING = ['incident_id', 'timestamp', 'threat_level', 'threat_score'];
  const cases: Case[] = [
    // Malformed JSON
    { name: 'truncated JSON', body: raw('{"incident_id": "INC_TRUNC", "threat_level": '), code: 'MALFORMED_JSON', paths: ['(body)'] },
    { name: 'single-quoted JSON', body: raw("{'incident_id': 'INC_Q'}"), code: 'MALFORMED_JSON', paths: ['(body)'] },
    { name: 'trailing garbage', body: raw(`${JSON.stringify(report())} trailing`), code: 'MALFORMED_JSON', paths: ['(body)'] },
    { name: 'two JSON documents', body: raw(`${JSON.stringify(report())}${JSON.stringify(report())}`), code: 'MALFORMED_JSON', paths: ['(body)'] },
    { name: 'a NaN literal', body: raw(JSON.stringify(report({ threat_score: 0 })).replace('"threat_score":0', '"threat_score":NaN')), code: 'MALFORMED_JSON', paths: ['(body)'] },
    { name: 'a raw NUL byte in a string', body: raw(JSON.stringify(report({ incident_id: 'INC_RAWNUL' })).replace('INC_RAWNUL', 'INC_\u0000RAW')), code: 'MALFORMED_JSON', paths: ['(body)'] },
    { name: 'an empty body', body: raw(''), code: 'MALFORMED_JSON', paths: ['(body)'] },

    // Not an object
    { name: 'an array of reports as body', body: [report(), report()], code: 'INVALID_REPORT', paths: ['(body)'] },
    { name: 'an empty array as body', body: [], code: 'INVALID_REPORT', paths: ['(body)'] },
    { name: 'null as body', body: null, code: 'INVALID_REPORT', paths: ['(body)'] },
    { name: 'a string as body', body: 'INC_1', code: 'INVALID_REPORT', paths: ['(body)'] },
    { name: 'a number as body', body: 42, code: 'INVALID_REPORT', paths: ['(body)'] },

    // Missing required fields: all reported at once
    { name: 'an empty object', body: {}, code: 'INVALID_REPORT', paths: MISSING },
    { name: 'only optional fields', body: { people_count: 1, weapon_detected: false, camera_id: CAMERA }, code: 'INVALID_REPORT', paths: MISSING },
    { name: 'required fields all null', body: { incident_id: null, timestamp: null, threat_level: null, threat_score: null }, code: 'INVALID_REPORT', paths: MISSING },
    ...MISSING.map((f): Case => ({ name: `no ${f}`, body: withField(f, undefined), code: 'INVALID_REPORT', paths: [f] })),

    // Wrong types, one field at a time
    ...(
      [
        ['incident_id', 12345],
        ['timestamp', 1770733845],
        ['threat_level', 3],
        ['threat_score', '0.5'],
        ['threat_score', true],
        ['people_count', '2'],
        ['weapon_detected', 'true'],
        ['weapon_detected', 1],
        ['weapon_types', 'gun'],
        ['behavior_summary', 42],
        ['behavior_summary', ['running']],
        ['is_critical', 'yes'],
        ['full_telemetry', [1, 2, 3]],
        ['full_telemetry', 'frame=1042'],
        ['full_telemetry', null],
        ['camera_id', 7],
      ] as const
    ).map(([field, value]): Case => ({ name: `${field} = ${JSON.stringify(value)}`, body: withField(field, value), code: 'INVALID_REPORT', paths: [field] })),
    { name: 'weapon_types = [1, 2]', body: report({ weapon_types: [1, 2] }), code: 'INVALID_REPORT', paths: ['weapon_types.0', 'weapon_types.1'] },
    {
      name: 'every field wrong at once',
      body: {
        incident_id: 1, timestamp: 2, threat_level: 'x', threat_score: 'x', people_count: -1, weapon_detected: 'x',
        weapon_types: 'x', behavior_summary: 1, is_critical: 'x', full_telemetry: 'x', camera_id: '',
      },
      code: 'INVALID_REPORT',
      paths: [...MISSING, 'people_count', 'weapon_detected', 'weapon_types', 'behavior_summary', 'is_critical', 'full_telemetry', 'camera_id'],
    },

    // Out-of-range values
    ...(
      [
        ['threat_score', -0.1],
        ['threat_score', 1.01],
        ['people_count', -1],
        ['people_count', 2.5],
        ['people_count', 100001],
        ['threat_level', 'high'],
        ['threat_level', 'SEVERE'],
        ['threat_level', ''],
        ['timestamp', 'yesterday'],
        ['timestamp', ''],
        ['timestamp', '10/02/2026 14:30'],
        ['timestamp', '2026-13-01T00:00:00'],
        ['timestamp', '2026-02-10T25:00:00'],
        ['timestamp', '2026-02-30T10:00:00'], // no 30 February
        ['timestamp', `2026-02-10T14:30:45.${'1'.repeat(40)}`],
        ['weapon_types', Array.from({ length: 17 }, (_, i) => `weapon${i}`)],
        ['behavior_summary', 'x'.repeat(2049)],
        ['camera_id', 'c'.repeat(65)],
        ['camera_id', '../etc'],
        ['camera_id', 'cam 7'],
        ['camera_id', ''],
      ] as const
    ).map(([field, value]): Case => ({
      name: `${field} = ${JSON.stringify(value).slice(0, 40)}`,
      body: withField(field, value),
      code: 'INVALID_REPORT',
      paths: [field],
    })),
    { name: 'threat_score = 1e999 (Infinity)', body: raw(JSON.stringify(report({ threat_score: 0 })).replace('"threat_score":0', '"threat_score":1e999')), code: 'INVALID_REPORT', paths: ['threat_score'] },
    { name: 'weapon_types = [""]', body: report({ weapon_types: [''] }), code: 'INVALID_REPORT', paths: ['weapon_types.0'] },
    { name: 'weapon_types with a 65-char entry', body: report({ weapon_types: ['k'.repeat(65)] }), code: 'INVALID_REPORT', paths: ['weapon_types.0'] },

    // Hostile incident ids
    ...(
      [
        ['path traversal', '../../etc/passwd'],
        ['a slash', 'a/b'],
        ['the MQTT multi-level wildcard', '#'],
        ['the MQTT single-level wildcard', '+'],
        ['unicode letters', 'INC_ünïcödé'],
        ['an emoji', 'INC_🔥'],
        ['a right-to-left override', 'INC_\u202Egnp.exe'],
        ['129 characters', 'I'.repeat(129)],
        ['the empty string', ''],
        ['SQL injection', "x'; DROP TABLE incidents; --"],
        ['SQL injection without quotes', '1 OR 1=1'],
        ['an escaped NUL byte', 'INC_\u0000_NUL'],
        ['a trailing newline', 'INC_001\n'],
        ['a leading space', ' INC_001'],
        ['percent-encoding', 'INC%2F..%2F'],
      ] as const
    ).map(([what, id]): Case => ({ name: `incident_id with ${what}`, body: report({ incident_id: id }), code: 'INVALID_REPORT', paths: ['incident_id'] })),
    {
      name: 'incident_id with invalid UTF-8 bytes',
      body: raw(Buffer.concat([Buffer.from('{"incident_id":"INC_'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(`",${JSON.stringify(report()).slice(1).replace(/"incident_id":"[^"]*",?/, '')}`)])),
      code: 'INVALID_REPORT',
      paths: ['incident_id'],
    },

    // Deep nesting
    { name: 'full_telemetry nested 13 levels (limit 12)', body: report({ full_telemetry: nested(13) }), code: 'INVALID_REPORT', paths: ['full_telemetry'] },
    { name: 'full_telemetry nested 10 000 levels of arrays', body: raw(JSON.stringify(report({ full_telemetry: { a: 0 } })).replace('"a":0', `"a":${'['.repeat(10_000)}${']'.repeat(10_000)}`)), code: 'INVALID_REPORT', paths: ['full_telemetry'] },
    // Unknown top-level fields are kept with the report, so they too must be bounded.
    { name: 'an unknown top-level field nested 10 000 levels', body: splice('sensor_dump', `${'['.repeat(10_000)}${']'.repeat(10_000)}`), code: 'INVALID_REPORT', paths: ['sensor_dump'] },
  ];

  it.each(cases)('$name: HTTP $code and an MQTT reject with the same code and details', async ({ body, code, paths }) => {
    const payload = encode(body);
    const http = await post(payload);
    const mqtt = await publishExpectingReject(forMqtt(payload)).then(
      (reject) => ({ reject, failure: null }),
      (err: Error) => ({ reject: null, failure: err.message }),
    );
    // Both verdicts are compared in full, so a failure shows what each transport did.
    expect.soft({ status: http.status, code: (http.body as ErrorBody | null)?.error?.code, paths: pathsOf(http.body) }, 'HTTP').toEqual({
      status: STATUS[code],
      code,
      paths: [...paths].sort(),
    });
    expect
      .soft({ failure: mqtt.failure, code: mqtt.reject?.error?.code, paths: pathsOf(mqtt.reject), camera_id: mqtt.reject?.camera_id }, 'MQTT')
      .toEqual({ failure: null, code, paths: [...paths].sort(), camera_id: CAMERA });
    if (http.status === STATUS[code]) expectError(http.body, code);
    if (mqtt.reject) expectError(mqtt.reject, code);
  });

  // ---------------------------------------------------------------------------------------
  describe('payload size (limit report.max_payload_bytes = 256 KiB)', () => {
    it.each([
      ['one byte over', 1],
      ['four times', 3 * 256 * 1024],
    ])('%s the limit: HTTP 413 and an MQTT reject PAYLOAD_TOO_LARGE', async (_what, extra) => {
      const limit = gw.config.report.max_payload_bytes;
      expect(limit).toBe(256 * 1024);
      const httpId = uid('BIG_H');
      const http = await post(reportOfSize(limit + extra, httpId));
      expect(http.status).toBe(413);
      expectError(http.body, 'PAYLOAD_TOO_LARGE');

      const mqttId = uid('BIG_M');
      const reject = await publishExpectingReject(reportOfSize(limit + extra, mqttId));
      expectError(reject, 'PAYLOAD_TOO_LARGE', ['(body)']);
      await expectNotStored(httpId);
      await expectNotStored(mqttId);
    });

    it('exactly at the limit: accepted and stored on both transports', async () => {
      const limit = gw.config.report.max_payload_bytes;
      const httpId = uid('EXACT_H');
      const http = await post(reportOfSize(limit, httpId));
      expect(http.status).toBe(200);
      await expectStored(httpId, 'http');
      const mqttId = uid('EXACT_M');
      await publish(camera, `safesphere/cameras/${CAMERA}/threats`, reportOfSize(limit, mqttId));
      await expectStored(mqttId, 'mqtt');
    });
  });

  // ---------------------------------------------------------------------------------------
  describe('HTTP content type', () => {
    it.each([['text/plain'], ['application/xml'], ['application/x-www-form-urlencoded'], ['multipart/form-data; boundary=x'], [null]])(
      'a JSON report sent as %s is refused with 415 and not stored',
      async (contentType) => {
        const id = uid('CT');
        const res = await post(JSON.stringify(report({ incident_id: id })), contentType);
        expect(res.status, JSON.stringify(res.body)).toBe(415);
        expectError(res.body, 'UNSUPPORTED_MEDIA_TYPE');
        await expectNotStored(id);
      },
    );
  });

  // ---------------------------------------------------------------------------------------
  describe('prototype keys', () => {
    it.each([
      ['a top-level __proto__ key', (id: string) => splice('__proto__', '{"polluted":true}', { incident_id: id })],
      ['a constructor.prototype key', (id: string) => splice('constructor', '{"prototype":{"polluted":true}}', { incident_id: id })],
      [
        'a __proto__ key in full_telemetry',
        (id: string) => raw(JSON.stringify(report({ incident_id: id, full_telemetry: { a: 0 } })).replace('"a":0', '"__proto__":{"polluted":true}')),
      ],
    ])('%s: refused alike on HTTP and MQTT, never stored, no prototype pollution', async (_what, make) => {
      const httpId = uid('PROTO_H');
      const http = await post(encode(make(httpId)));
      expect([400, 422], JSON.stringify(http.body)).toContain(http.status);
      const { code } = expectError(http.body, http.status === 400 ? 'MALFORMED_JSON' : 'INVALID_REPORT');
      await expectNotStored(httpId);

      // The one contract: the MQTT transport must refuse what HTTP refuses, with the same code.
      const mqttId = uid('PROTO_M');
      inbox.clear();
      await publish(camera, `safesphere/cameras/${CAMERA}/threats`, encode(make(mqttId)));
      await expectNotStored(mqttId);
      expectError(await inbox.take(REJECTS), code);

      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('polluted');
    });
  });

  // ---------------------------------------------------------------------------------------
  describe('MQTT topics', () => {
    // The reject goes to rejects/_invalid unless the id is still usable as a topic level.
    it.each([
      ['unicode and a space', 'cam é', INVALID_REJECTS],
      ['an emoji', 'cam-📷', INVALID_REJECTS],
      ['an empty level', '', INVALID_REJECTS],
      ['SQL injection', "cam';DROP TABLE incidents;--", INVALID_REJECTS],
      ['percent-encoding', 'cam%2F..', INVALID_REJECTS],
      ['a NUL byte', 'cam\u0000x', INVALID_REJECTS],
      ['65 characters', 'c'.repeat(65), `safesphere/gateway/rejects/${'c'.repeat(65)}`],
    ])('a camera id with %s in the topic is rejected with INVALID_TOPIC, not stored, the camera stays connected', async (_what, topicCamera, rejectTopic) => {
      const id = uid('TOPIC');
      const reject = await publishExpectingReject(JSON.stringify(report({ incident_id: id })), topicCamera, rejectTopic);
      expect(reject).toMatchObject({ error: { code: 'INVALID_TOPIC', message: expect.any(String) }, camera_id: topicCamera });
      await expectNotStored(id);
    });

    it('a body camera_id that contradicts the topic is rejected naming camera_id', async () => {
      const id = uid('CONTRA');
      const reject = await publishExpectingReject(JSON.stringify(report({ incident_id: id, camera_id: 'cam-elsewhere' })));
      expectError(reject, 'INVALID_REPORT', ['camera_id']);
      expect(reject.error.details[0]!.message).toContain(CAMERA);
      await expectNotStored(id);
    });

    it('a slash in the camera id makes it another topic: PUBACKed as a plain message, nothing ingested', async () => {
      const id = uid('SLASH');
      await publish(camera, 'safesphere/cameras/a/b/threats', JSON.stringify(report({ incident_id: id })));
      // PUBACK comes after authorizePublish, so an ingest would already be committed.
      await expectNotStored(id);
      expect(camera.connected).toBe(true);
    });

    it.each([['+'], ['#']])(
      'a %s wildcard in a PUBLISH topic is a protocol error: that connection is dropped, nothing stored, others unaffected',
      async (wildcard) => {
        const rogue = await connectMqtt(gw.mqttUrl, { clientId: `rogue-${wildcard === '+' ? 'plus' : 'hash'}` });
        const id = uid('WILD');
        try {
          await expect(publish(rogue, `safesphere/cameras/${wildcard}/threats`, JSON.stringify(report({ incident_id: id })))).rejects.toThrow(
            /closed the connection/,
          );
        } finally {
          rogue.end(true);
        }
        await expectNotStored(id);
        expect(camera.connected).toBe(true);
      },
    );
  });

  // ---------------------------------------------------------------------------------------
  describe('boundary values are accepted on both transports', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-';
    it.each<[string, (t: 'h' | 'm') => Record<string, unknown>]>([
      ['threat_score 0', () => ({ threat_score: 0, threat_level: 'LOW' })],
      ['threat_score 1', () => ({ threat_score: 1 })],
      ['people_count 0', () => ({ people_count: 0 })],
      ['people_count 100000', () => ({ people_count: 100000 })],
      ['a 128-char incident_id using every allowed character', (t) => ({ incident_id: `${t}${alphabet}`.padEnd(128, '9') })],
      ['16 weapon_types', () => ({ weapon_types: Array.from({ length: 16 }, (_, i) => `w${i}`) })],
      ['a 2048-char behavior_summary of non-ASCII text', () => ({ behavior_summary: 'é'.repeat(2048) })],
      ['full_telemetry nested 12 levels', () => ({ full_telemetry: nested(12) })],
      ['a space-separated timestamp without seconds', () => ({ timestamp: '2026-02-10 14:30' })],
      ['a nanosecond timestamp with an offset', () => ({ timestamp: '2026-02-10T14:30:45.123456789+05:30' })],
      ['an unknown extra field', () => ({ firmware: { version: '2.1.0' } })],
    ])('%s', async (_what, make) => {
      const httpReport = report({ incident_id: uid('OK_H'), ...make('h') });
      const http = await post(JSON.stringify(httpReport));
      expect(http.status, JSON.stringify(http.body)).toBe(200);
      await expectStored(httpReport.incident_id as string, 'http');

      const mqttReport = report({ incident_id: uid('OK_M'), ...make('m'), camera_id: CAMERA });
      await publish(camera, `safesphere/cameras/${CAMERA}/threats`, JSON.stringify(mqttReport));
      await expectStored(mqttReport.incident_id as string, 'mqtt');
    });
  });

  // ---------------------------------------------------------------------------------------
  describe('after the barrage', () => {
    it('still answers /health 200 with every component up', async () => {
      const { status, body } = await getJson(`${gw.httpUrl}/health`);
      expect(status).toBe(200);
      expect(body.status).toBe('healthy');
      expect(body.components.db.status).toBe('up');
      expect(body.components.broker.status).toBe('up');
    });

    it('the camera is still connected and its next valid report is PUBACKed and stored', async () => {
      expect(camera.connected).toBe(true);
      const id = uid('FINAL');
      inbox.clear();
      await publish(camera, `safesphere/cameras/${CAMERA}/threats`, JSON.stringify(report({ incident_id: id, threat_level: 'HIGH', threat_score: 0.7, weapon_detected: false, weapon_types: [] })));
      await expectStored(id, 'mqtt');
      const { body } = await getJson(`${gw.httpUrl}/incidents/${id}`);
      expect(body).toMatchObject({ camera_id: CAMERA, threat_level: 'HIGH', action_taken: 'ALERT_POLICE' });
    });

    it('GET /statistics and GET /incidents show exactly the valid reports, no invalid one', async () => {
      expect(valid.size).toBeGreaterThan(20);
      const { body: list } = await getJson(`${gw.httpUrl}/incidents?limit=1000`);
      const stored = (list.incidents as { incident_id: string }[]).map((i) => i.incident_id);
      expect(stored.filter((id) => !valid.has(id)), 'stored but invalid').toEqual([]);
      expect([...valid].filter((id) => !stored.includes(id)), 'valid but not stored').toEqual([]);

      const { status, body } = await getJson(`${gw.httpUrl}/statistics`);
      expect(status).toBe(200);
      expect(body.statistics.total_incidents).toBe(valid.size);
      const perCamera = body.statistics.per_camera as Record<string, { total_incidents: number }>;
      expect(Object.values(perCamera).reduce((n, c) => n + c.total_incidents, 0)).toBe(valid.size);
      expect(Object.keys(perCamera).sort()).toEqual([CAMERA, 'unknown']);
    });
  });
});
