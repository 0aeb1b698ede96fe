// The Gemini second opinion and the operator chat, against a local HTTP server that speaks
// the generateContent REST shape, reached through @google/genai's httpOptions.baseUrl.
// Nothing here leaves the loopback interface.
import type { MqttClient } from 'mqtt';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectMqtt, getJson, postJson, seedReport, startGateway, type TestGateway } from './helpers.js';
import { solidImage, startFakeGemini, uploadSnapshot, type FakeGemini, type GeminiCall } from './evidence-fixtures.js';
import { sqlite } from './sqlite.js';

const confirmed = { summary: 'A person holding a handgun near the entrance.', threat_confirmed: true, confidence: 0.92, potential_threat_level: 'CRITICAL', recommended_actions: ['Keep police informed', 'Lock the lobby doors'] };

const report = (id: string, extra: Record<string, unknown> = {}) => seedReport({ incident_id: id, camera_id: 'cam-1', ...extra });

/** Report + snapshot; resolves once the report is stored and the snapshot attached. */
async function incidentWithSnapshot(gw: TestGateway, id: string, extra: Record<string, unknown> = {}): Promise<void> {
  expect((await postJson(`${gw.httpUrl}/threats/report`, report(id, extra))).status).toBe(200);
  expect((await uploadSnapshot(gw.httpUrl, id, await solidImage('jpeg', 320, 240))).body.status).toBe('attached');
}

function annotationStored(gw: TestGateway, id: string, timeoutMs = 15_000): Promise<{ needs_review: boolean }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no annotation for ${id} within ${timeoutMs} ms`)), timeoutMs);
    const off = gw.gateway.bus.on('annotation.stored', (e) => {
      if (e.incident_id !== id) return;
      clearTimeout(timer);
      off();
      resolve(e);
    });
  });
}

const aiConfig = (fake: FakeGemini, extra: Record<string, unknown> = {}) => ({
  enabled: true,
  api_key: 'test-key-not-real',
  model: 'gemini-test-flash',
  base_url: fake.url,
  timeout_ms: 600,
  backoff_base_ms: 100,
  backoff_max_ms: 400,
  ...extra,
});

describe('Gemini second opinion with actions carried out by Node-RED', () => {
  let gw: TestGateway;
  let fake: FakeGemini;
  let watcher: MqttClient;
  const sirens: { at: number; payload: Record<string, unknown> }[] = [];
  const actionsAtRequest = new Map<string, string[]>();

  beforeAll(async () => {
    fake = await startFakeGemini();
    gw = await startGateway({
      scoring: { enabled: false },
      nodered: { enabled: true, port: 0, host: '127.0.0.1' },
      // As shipped: contacts and escalation carry the notification types (none configured here, so
      // they end undeliverable at once); the flows carry the rest. Nothing stays pending.
      notify: {},
      devices: { sirens: [{ id: 'siren-1', cameras: ['*'], zones: [], duration_s: 0.2 }] },
      ai: aiConfig(fake, { send_images: false }),
    });
    watcher = await connectMqtt(gw.mqttUrl);
    watcher.on('message', (_t, payload) => sirens.push({ at: Date.now(), payload: JSON.parse(payload.toString()) }));
    await watcher.subscribeAsync('safesphere/sirens/+/set', { qos: 1 });
    // What the incident's actions were when the request reached "Gemini".
    fake.onRequest = (call: GeminiCall) => {
      const id = /Incident (\S+) from camera/.exec(call.text)?.[1];
      if (id) actionsAtRequest.set(id, gw.gateway.store.actionsFor(id).map((a) => a.status));
    };
  }, 60_000);
  afterAll(async () => {
    await watcher?.endAsync();
    await gw?.stop();
    await fake?.close();
  });

  it('dispatches the siren before the AI request arrives, then stores the structured answer as an annotation with the model name', async () => {
    fake.queue.push({ kind: 'json', value: confirmed });
    const stored = annotationStored(gw, 'INC_AI_1');
    // The hardest order: the snapshot is already held when the report commits, so the AI
    // stage is ready at the same moment the actions are planned.
    expect((await uploadSnapshot(gw.httpUrl, 'INC_AI_1', await solidImage('jpeg', 320, 240))).body.status).toBe('held');
    expect((await postJson(`${gw.httpUrl}/threats/report`, report('INC_AI_1'))).status).toBe(200);
    await stored;

    const call = fake.calls.find((c) => c.text.includes('INC_AI_1'))!;
    expect(call.path).toBe('/v1beta/models/gemini-test-flash:generateContent');
    expect(call.apiKey).toBe('test-key-not-real');
    // send_images: false here, so nothing slows the AI path down: only the wait for dispatch orders it.
    expect(call.hasImage).toBe(false);
    expect(call.body.generationConfig).toMatchObject({ responseMimeType: 'application/json', responseSchema: { type: 'OBJECT', required: expect.arrayContaining(['summary', 'threat_confirmed', 'confidence', 'potential_threat_level', 'recommended_actions']) } });
    expect(call.text).toContain('Gateway level: CRITICAL');
    expect(call.text).toContain('Weapon detected: yes (gun)');

    // The siren went out before the request arrived, and no action was still pending then.
    const siren = sirens.find((s) => s.payload.incident_id === 'INC_AI_1' && s.payload.state === 'ON');
    expect(siren).toBeDefined();
    expect(siren!.at).toBeLessThanOrEqual(call.at);
    expect(actionsAtRequest.get('INC_AI_1')!.length).toBeGreaterThan(0);
    expect(actionsAtRequest.get('INC_AI_1')).not.toContain('pending');

    const { body } = await getJson(`${gw.httpUrl}/incidents/INC_AI_1`);
    expect(body.threat_level).toBe('CRITICAL');
    expect(body.annotations).toEqual([
      expect.objectContaining({ kind: 'ai_second_opinion', model: 'gemini-test-flash', ...confirmed, needs_review: false, images_sent: false }),
    ]);
    // Synced upstream: an outbox entry in the annotation's transaction.
    const outbox = sqlite(gw.gateway.store).prepare("SELECT payload FROM outbox WHERE incident_id = 'INC_AI_1' AND kind = 'annotation'").all() as { payload: string }[];
    expect(outbox.map((r) => JSON.parse(r.payload))).toEqual([expect.objectContaining({ annotation: 'ai_second_opinion', model: 'gemini-test-flash', threat_confirmed: true })]);
  });

  it('flags a disagreement for operator review and never lowers the level', async () => {
    fake.queue.push({ kind: 'json', value: { summary: 'An empty corridor; the object is an umbrella.', threat_confirmed: false, confidence: 0.8, potential_threat_level: 'LOW', recommended_actions: ['Review the footage'] } });
    const stored = annotationStored(gw, 'INC_AI_2');
    await incidentWithSnapshot(gw, 'INC_AI_2');
    expect((await stored).needs_review).toBe(true);
    const { body } = await getJson(`${gw.httpUrl}/incidents/INC_AI_2`);
    expect(body.threat_level).toBe('CRITICAL');
    expect(body.action_taken).toBe('EMERGENCY_PROTOCOL');
    expect(body.annotations[0]).toMatchObject({ threat_confirmed: false, needs_review: true, review_reason: expect.stringContaining('CRITICAL') });
  });

  it('backs off exponentially on 429 and then succeeds', async () => {
    fake.queue.push({ kind: 'status', status: 429 }, { kind: 'status', status: 429 }, { kind: 'json', value: confirmed });
    const before = gw.gateway.get('ai')!.opinion!.counters.rate_limited;
    const stored = annotationStored(gw, 'INC_AI_429');
    await incidentWithSnapshot(gw, 'INC_AI_429');
    await stored;
    const calls = fake.calls.filter((c) => c.text.includes('INC_AI_429'));
    expect(calls).toHaveLength(3);
    // Equal jitter: the first wait is 50..100 ms, the second 100..200 ms.
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(45);
    expect(calls[2]!.at - calls[1]!.at).toBeGreaterThanOrEqual(95);
    expect(gw.gateway.get('ai')!.opinion!.counters.rate_limited - before).toBe(2);
  });

  it('times out a request that gets no answer, then retries', async () => {
    fake.queue.push({ kind: 'hang' }, { kind: 'json', value: confirmed });
    const before = gw.gateway.get('ai')!.opinion!.counters.timeouts;
    const stored = annotationStored(gw, 'INC_AI_SLOW');
    await incidentWithSnapshot(gw, 'INC_AI_SLOW');
    await stored;
    const calls = fake.calls.filter((c) => c.text.includes('INC_AI_SLOW'));
    expect(calls).toHaveLength(2);
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(600); // ai.timeout_ms
    expect(gw.gateway.get('ai')!.opinion!.counters.timeouts - before).toBe(1);
  });

  it('asks nothing for incidents below ai.min_level', async () => {
    const calls = fake.calls.length;
    await incidentWithSnapshot(gw, 'INC_AI_LOW', { threat_level: 'MEDIUM', threat_score: 0.5, weapon_detected: false, weapon_types: [], is_critical: false });
    await gw.gateway.get('snapshots')!.settled();
    await gw.gateway.get('ai')!.opinion!.idle();
    expect(fake.calls.length).toBe(calls);
    expect((await getJson(`${gw.httpUrl}/incidents/INC_AI_LOW`)).body.annotations).toEqual([]);
  });
});

describe('offline queue, budget, privacy and chat (no Node-RED)', () => {
  let fake: FakeGemini;
  beforeAll(async () => {
    fake = await startFakeGemini();
  });
  afterAll(async () => fake?.close());

  it('queues while offline, drops the oldest beyond ai.queue_max with a count, and catches up when back online; send_images false sends no image', async () => {
    fake.fallback = { kind: 'drop' };
    const gw = await startGateway({ scoring: { enabled: false }, ai: aiConfig(fake, { queue_max: 2, send_images: false, backoff_base_ms: 50, backoff_max_ms: 100 }) });
    try {
      await incidentWithSnapshot(gw, 'INC_OFF_1');
      await expect.poll(() => gw.gateway.get('ai')!.opinion!.isOffline, { timeout: 5000, interval: 10 }).toBe(true);
      for (const id of ['INC_OFF_2', 'INC_OFF_3', 'INC_OFF_4']) await incidentWithSnapshot(gw, id);
      await gw.gateway.get('snapshots')!.settled();
      expect(gw.gateway.get('ai')!.opinion!.counters.dropped_queue_full).toBe(2);
      expect(gw.logs.lines.filter((l) => l.msg === 'AI queue full; oldest request dropped').map((l) => l.dropped)).toEqual(['INC_OFF_1', 'INC_OFF_2']);
      expect((await getJson(`${gw.httpUrl}/health`)).body.components.ai).toMatchObject({ status: 'degraded', online: false, queue: 2 });
      // Offline attempts never reached Gemini: they cost no budget and no per-incident cap. A retry
      // holds its row while it is in flight (every 50-100 ms here) and gives it back on the network
      // failure, so the count is 0 between retries; rows kept would make it grow instead.
      await expect.poll(() => sqlite(gw.gateway.store).prepare('SELECT count(*) AS n FROM ai_requests').get(), { timeout: 5000, interval: 5 }).toEqual({ n: 0 });

      fake.fallback = { kind: 'json', value: confirmed };
      const a = annotationStored(gw, 'INC_OFF_3');
      const b = annotationStored(gw, 'INC_OFF_4');
      await Promise.all([a, b]);
      expect(gw.gateway.get('ai')!.opinion!.isOffline).toBe(false);
      const answered = fake.calls.filter((c) => c.body.generationConfig?.responseSchema && !c.text.includes('INC_OFF_1') && !c.text.includes('INC_OFF_2'));
      expect(answered.length).toBeGreaterThanOrEqual(2);
      // Privacy: telemetry only.
      expect(fake.calls.every((c) => !c.hasImage)).toBe(true);
      expect(fake.calls.at(-1)!.text).toContain('No image is sent');
      expect((await getJson(`${gw.httpUrl}/incidents/INC_OFF_1`)).body.annotations).toEqual([]);
      expect((await getJson(`${gw.httpUrl}/incidents/INC_OFF_3`)).body.annotations[0].images_sent).toBe(false);
    } finally {
      await gw.stop();
    }
  });

  it('sends the stored, metadata-free snapshot as an inline JPEG when ai.send_images is on', async () => {
    fake.fallback = { kind: 'json', value: confirmed };
    const gw = await startGateway({ scoring: { enabled: false }, ai: aiConfig(fake) });
    try {
      const stored = annotationStored(gw, 'INC_IMG');
      await incidentWithSnapshot(gw, 'INC_IMG');
      await stored;
      const call = fake.calls.find((c) => c.text.includes('INC_IMG'))!;
      const part = call.body.contents[0].parts.find((p: { inlineData?: unknown }) => p.inlineData);
      expect(part.inlineData.mimeType).toBe('image/jpeg');
      const jpeg = Buffer.from(part.inlineData.data, 'base64');
      const meta = await (await import('sharp')).default(jpeg).metadata();
      expect([meta.format, meta.width, meta.height, meta.exif]).toEqual(['jpeg', 320, 240, undefined]);
      expect(call.text).toContain('The camera snapshot is attached.');
      expect((await getJson(`${gw.httpUrl}/incidents/INC_IMG`)).body.annotations[0].images_sent).toBe(true);
    } finally {
      await gw.stop();
    }
  });

  it('stops at the daily budget, and the chat says so', async () => {
    fake.fallback = { kind: 'json', value: confirmed };
    const calls = fake.calls.length;
    const gw = await startGateway({ scoring: { enabled: false }, ai: aiConfig(fake, { daily_budget: 2 }) });
    try {
      for (const id of ['INC_B1', 'INC_B2']) {
        const stored = annotationStored(gw, id);
        await incidentWithSnapshot(gw, id);
        await stored;
      }
      await incidentWithSnapshot(gw, 'INC_B3');
      await gw.gateway.get('snapshots')!.settled();
      await gw.gateway.get('ai')!.opinion!.idle();
      expect(fake.calls.length - calls).toBe(2);
      expect(gw.gateway.get('ai')!.opinion!.counters.skipped_budget).toBe(1);
      expect(gw.logs.lines.some((l) => l.msg === 'AI daily budget spent; no more Gemini requests today')).toBe(true);
      expect((await getJson(`${gw.httpUrl}/health`)).body.components.ai.budget_left_today).toBe(0);
      const answer = await gw.gateway.get('ai')!.chat!.answer('what happened at cam-1 today?');
      expect(answer).toMatchObject({ ai: false, error: 'budget_exhausted' });
      expect(fake.calls.length - calls).toBe(2);
    } finally {
      await gw.stop();
    }
  });

  it('answers the operator chat over /ws/chat grounded in stored incidents, citing only real incident ids', async () => {
    // The fake "model" cites every id it was given, and makes one up.
    fake.fallback = (call) =>
      call.body.generationConfig?.responseSchema
        ? { kind: 'json', value: confirmed }
        : { kind: 'text', value: `At cam-3: ${[...call.text.matchAll(/^\[(INC_[A-Z0-9_]+)\]/gm)].map((m) => `[${m[1]}]`).join(' ')} and [INC_MADE_UP_999].` };
    const gw = await startGateway({ scoring: { enabled: false }, ai: aiConfig(fake) });
    try {
      for (const [id, cam] of [['INC_C3_A', 'cam-3'], ['INC_C3_B', 'cam-3'], ['INC_C1_A', 'cam-1']] as const) {
        expect((await postJson(`${gw.httpUrl}/threats/report`, report(id, { camera_id: cam, threat_level: 'MEDIUM', threat_score: 0.5, weapon_detected: false, weapon_types: [], is_critical: false }))).status).toBe(200);
      }
      const ws = new WebSocket(`${gw.httpUrl.replace('http', 'ws')}/ws/chat`);
      const messages: any[] = [];
      ws.on('message', (d) => messages.push(JSON.parse(d.toString())));
      await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
      ws.send(JSON.stringify({ id: 7, question: 'What happened at cam-3 in the last hour?' }));
      await expect.poll(() => messages.find((m) => m.type === 'answer'), { timeout: 10_000, interval: 20 }).toBeDefined();
      ws.close();
      const answer = messages.find((m) => m.type === 'answer');
      expect(answer).toMatchObject({ id: 7, ai: true, model: 'gemini-test-flash', query: { camera_id: 'cam-3', window: 'the last hour' } });
      expect([...answer.citations].sort()).toEqual(['INC_C3_A', 'INC_C3_B']);
      expect(answer.unverified_ids).toEqual(['INC_MADE_UP_999']);
      expect(answer.incidents.map((i: { incident_id: string }) => i.incident_id).sort()).toEqual(['INC_C3_A', 'INC_C3_B']);
      // The model was grounded in the retrieved incidents only.
      const chatCall = fake.calls.at(-1)!;
      expect(chatCall.body.generationConfig?.responseSchema).toBeUndefined();
      expect(chatCall.text).toContain('[INC_C3_A]');
      expect(chatCall.text).not.toContain('INC_C1_A');
      expect(chatCall.text).toContain('What happened at cam-3 in the last hour?');
    } finally {
      await gw.stop();
    }
  });

  it('says clearly when AI is not configured, and still lists what the store has', async () => {
    const gw = await startGateway({ scoring: { enabled: false } });
    try {
      await postJson(`${gw.httpUrl}/threats/report`, report('INC_NOAI', { camera_id: 'cam-3' }));
      const ws = new WebSocket(`${gw.httpUrl.replace('http', 'ws')}/ws/chat`);
      const messages: any[] = [];
      ws.on('message', (d) => messages.push(JSON.parse(d.toString())));
      await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
      ws.send('what happened at cam-3 in the last hour?');
      await expect.poll(() => messages.find((m) => m.type === 'answer'), { timeout: 5000, interval: 20 }).toBeDefined();
      ws.close();
      const answer = messages.find((m) => m.type === 'answer');
      expect(answer.ai).toBe(false);
      expect(answer.text).toMatch(/^AI is not configured on this gateway \(ai\.enabled is false\)/);
      expect(answer.citations).toEqual(['INC_NOAI']);
      expect(gw.gateway.get('ai')!.opinion).toBeNull();
    } finally {
      await gw.stop();
    }
  });
});
