// The optional image model, with the generated tiny detector (YOLOv8 signature).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SnapshotDetector } from '../src/evidence/detector.js';
import { buildTinyDetector } from '../tools/tiny-detector.js';
import { decodeYoloOutput, hwcToChw, letterbox, unletterboxBox } from '../src/evidence/yolo.js';
import { createLogger } from '../src/logger.js';
import { getJson, postJson, seedReport, startGateway, tempDir, type TestGateway } from './helpers.js';
import { uploadSnapshot } from './evidence-fixtures.js';
import { sqlite } from './sqlite.js';

const quiet = createLogger('silent');

function writeModel(dir: string, name: string, options: Parameters<typeof buildTinyDetector>[0] = {}) {
  const m = buildTinyDetector(options);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.onnx`), m.onnx);
  writeFileSync(join(dir, `${name}.txt`), m.labels.join('\n') + '\n');
  return { path: join(dir, `${name}.onnx`), ...m };
}

const detectorConfig = (path: string, extra: Record<string, unknown> = {}) => ({
  path,
  labels: '',
  confidence: 0.25,
  iou: 0.45,
  person_labels: ['person'],
  weapon_labels: ['knife'],
  timeout_ms: 20000,
  intra_op_threads: 1,
  ...extra,
});

/** A black image with coloured squares at known places. */
function scene(width: number, height: number, squares: { x: number; y: number; size: number; rgb: { r: number; g: number; b: number } }[]) {
  return sharp({ create: { width, height, channels: 3, background: { r: 0, g: 0, b: 0 } } })
    .composite(squares.map((s) => ({ input: { create: { width: s.size, height: s.size, channels: 3 as const, background: s.rgb } }, left: s.x, top: s.y })))
    .jpeg({ quality: 95 })
    .toBuffer();
}

describe('letterbox math', () => {
  it('fits 1920x1080 into 640x640 at 1/3 scale with 140 px bars above and below', () => {
    expect(letterbox(1920, 1080, 640, 640)).toEqual({ scale: 1 / 3, width: 640, height: 360, padLeft: 0, padTop: 140, padRight: 0, padBottom: 140 });
  });
  it('puts the odd padding pixel after the image, as Ultralytics does', () => {
    const lb = letterbox(100, 51, 64, 64);
    expect(lb).toMatchObject({ scale: 0.64, width: 64, height: 33, padTop: 15, padBottom: 16, padLeft: 0, padRight: 0 });
    const tall = letterbox(480, 640, 640, 640);
    expect(tall).toMatchObject({ scale: 1, width: 480, height: 640, padLeft: 80, padRight: 80, padTop: 0 });
  });
  it('maps boxes back to source pixels and clips them to the image', () => {
    const lb = letterbox(1920, 1080, 640, 640);
    // A box on the model input covering source (300,150)-(600,450).
    expect(unletterboxBox([100, 190, 200, 290], lb, 1920, 1080)).toEqual([300, 150, 600, 450]);
    // A box reaching into the bar is clipped.
    expect(unletterboxBox([-10, 100, 700, 600], lb, 1920, 1080)).toEqual([0, 0, 1920, 1080]);
  });
  it('converts HWC RGB bytes to a CHW float tensor in 0..1', () => {
    const rgb = new Uint8Array([255, 0, 51, 0, 255, 102]); // 2 pixels
    expect(Array.from(hwcToChw(rgb, 2, 1)).map((v) => Math.round(v * 1e6) / 1e6)).toEqual([1, 0, 0, 1, 0.2, 0.4]);
  });
});

describe('YOLOv8 output parsing', () => {
  // C = 3 classes (person, knife, car), N = 5 anchors, laid out [1, 4 + C, N].
  const N = 5;
  const C = 3;
  function output(anchors: { cx: number; cy: number; w: number; h: number; scores: number[] }[]): Float32Array {
    const data = new Float32Array((4 + C) * N);
    anchors.forEach((a, i) => {
      data[i] = a.cx;
      data[N + i] = a.cy;
      data[2 * N + i] = a.w;
      data[3 * N + i] = a.h;
      a.scores.forEach((s, c) => (data[(4 + c) * N + i] = s));
    });
    return data;
  }
  const options = { numClasses: C, anchors: N, confidence: 0.25, iou: 0.45, maxDetections: 100, personClasses: [0], weaponClasses: [1] };

  it('keeps each anchor\'s best class over the threshold, suppresses overlaps of the same class only, and reports the maxima', () => {
    const data = output([
      { cx: 50, cy: 50, w: 20, h: 40, scores: [0.9, 0.1, 0.0] }, // person
      { cx: 52, cy: 51, w: 20, h: 40, scores: [0.8, 0.1, 0.0] }, // same person, overlapping: suppressed
      { cx: 52, cy: 51, w: 20, h: 40, scores: [0.1, 0.7, 0.0] }, // a knife in the same place: kept (other class)
      { cx: 200, cy: 100, w: 10, h: 10, scores: [0.2, 0.24, 0.1] }, // below the threshold
      { cx: 300, cy: 300, w: 30, h: 30, scores: [0.0, 0.0, 0.6] }, // car
    ]);
    const decoded = decodeYoloOutput(data, options);
    expect(decoded.detections.map((d) => [d.cls, Math.round(d.confidence * 100)])).toEqual([
      [0, 90],
      [1, 70],
      [2, 60],
    ]);
    expect(decoded.detections[0]!.box).toEqual([40, 30, 60, 70]);
    expect(decoded.person).toBeCloseTo(0.9, 6);
    expect(decoded.weapon).toBeCloseTo(0.7, 6);
  });

  it('keeps two separate people apart and caps the count', () => {
    const data = output([
      { cx: 10, cy: 10, w: 10, h: 10, scores: [0.5, 0, 0] },
      { cx: 100, cy: 100, w: 10, h: 10, scores: [0.6, 0, 0] },
      { cx: 0, cy: 0, w: 0, h: 0, scores: [0, 0, 0] },
      { cx: 0, cy: 0, w: 0, h: 0, scores: [0, 0, 0] },
      { cx: 0, cy: 0, w: 0, h: 0, scores: [0, 0, 0] },
    ]);
    expect(decodeYoloOutput(data, options).detections).toHaveLength(2);
    expect(decodeYoloOutput(data, { ...options, maxDetections: 1 }).detections.map((d) => d.confidence)).toEqual([expect.closeTo(0.6, 6)]);
  });

  it('refuses an output whose size is not (4 + C) x N', () => {
    expect(() => decodeYoloOutput(new Float32Array(10), options)).toThrow(/expected \(4 \+ 3\) x 5/);
  });
});

describe('the tiny detector in its worker', () => {
  const dir = tempDir('tiny-detector-');
  const tiny = writeModel(dir, 'tiny', { size: 64, stride: 8 });
  let detector: SnapshotDetector;

  beforeAll(async () => {
    detector = new SnapshotDetector(detectorConfig(tiny.path), quiet);
    await detector.start();
  });
  afterAll(async () => detector?.stop());

  it('has the YOLOv8 signature: [1, 3, 64, 64] in, [1, 4 + 3, 64] out', async () => {
    const session = await ort.InferenceSession.create(tiny.path);
    expect(session.inputNames).toEqual(['images']);
    expect(session.outputNames).toEqual(['output0']);
    const out = await session.run({ images: new ort.Tensor('float32', new Float32Array(3 * 64 * 64), [1, 3, 64, 64]) });
    expect(out.output0!.dims).toEqual([1, 7, 64]);
    await session.release();
    expect(detector.ready).toBe(true);
    expect(detector.inputSize).toEqual({ width: 64, height: 64 });
  });

  it('letterboxes with sharp and finds a red "person" and a blue "knife" where they are, in source pixels', async () => {
    // 800x400 → scale 0.08 (64x32, bars of 16 above and below). A 100 px square = 8 model px = one cell.
    const img = await scene(800, 400, [
      { x: 100, y: 0, size: 100, rgb: { r: 255, g: 0, b: 0 } },
      { x: 500, y: 300, size: 100, rgb: { r: 0, g: 0, b: 255 } },
    ]);
    const { rgb, lb } = await detector.letterboxed(img, 800, 400);
    expect(lb).toMatchObject({ width: 64, height: 32, padTop: 16, padBottom: 16 });
    expect(rgb.length).toBe(64 * 64 * 3);
    expect([rgb[0], rgb[1], rgb[2]]).toEqual([114, 114, 114]); // the bar is Ultralytics grey
    const result = (await detector.detect(img, 800, 400))!;
    expect(result.person).toBeGreaterThan(0.99);
    expect(result.weapon).toBeGreaterThan(0.99);
    const person = result.detections.find((d) => d.label === 'person')!;
    const knife = result.detections.find((d) => d.label === 'knife')!;
    expect(person.box).toEqual([100, 0, 200, 100]);
    expect(knife.box).toEqual([500, 300, 600, 400]);
    expect(result.detections).toHaveLength(2);
  });

  it('reports low confidences for an empty scene', async () => {
    const result = (await detector.detect(await scene(320, 240, []), 320, 240))!;
    expect(result.detections).toEqual([]);
    expect(result.person).toBeLessThan(0.05);
    expect(result.weapon).toBeLessThan(0.05);
  });

  it('refuses a model whose label file does not match its output, and stays off', async () => {
    writeFileSync(join(dir, 'tiny.txt'), 'person\nknife\n');
    const bad = new SnapshotDetector(detectorConfig(tiny.path), quiet);
    await bad.start();
    expect(bad.ready).toBe(false);
    expect(bad.health()).toMatchObject({ status: 'degraded', last_error: { message: expect.stringContaining('not [1, 4 + 2 classes, N]') } });
    expect(await bad.detect(Buffer.alloc(0), 1, 1)).toBeNull();
    writeFileSync(join(dir, 'tiny.txt'), tiny.labels.join('\n'));
  });
});

describe('inference off the event loop', () => {
  // A YOLOv8n-sized head (80 classes, 6400 anchors at 640x640) plus full-resolution
  // convolutions: the per-snapshot work is real (tensor conversion, session.run, decoding).
  const dir = tempDir('heavy-detector-');
  const labels = ['person', 'knife', 'car', ...Array.from({ length: 77 }, (_, i) => `class_${i}`)];
  const heavy = writeModel(dir, 'heavy', { size: 640, stride: 8, labels, heavyLayers: 2, heavyChannels: 16 });

  /** The longest gap between 1 ms timer ticks while `work` runs: how long the event loop was blocked. */
  async function maxLoopGap(work: () => Promise<unknown>): Promise<number> {
    let last = performance.now();
    let maxGap = 0;
    const tick = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
    }, 1);
    await new Promise((r) => setTimeout(r, 20));
    maxGap = 0;
    last = performance.now();
    await work();
    await new Promise((r) => setTimeout(r, 5));
    clearInterval(tick);
    return maxGap;
  }

  it('keeps the event loop responsive while the worker runs the model; the same work on the main thread blocks it', async () => {
    const detector = new SnapshotDetector(detectorConfig(heavy.path, { timeout_ms: 60000 }), quiet);
    await detector.start();
    expect(detector.inputSize).toEqual({ width: 640, height: 640 });
    const img = await scene(640, 640, [{ x: 80, y: 80, size: 16, rgb: { r: 255, g: 0, b: 0 } }]);
    const { rgb } = await detector.letterboxed(img, 640, 640);
    await detector.detect(img, 640, 640); // warm-up
    const runs: number[] = [];
    const inWorker = await maxLoopGap(async () => {
      for (let i = 0; i < 3; i++) runs.push((await detector.detect(img, 640, 640))!.inferenceMs);
    });
    await detector.stop();

    // Control: exactly the worker's steps, on the main thread.
    const session = await ort.InferenceSession.create(heavy.path, { intraOpNumThreads: 1 });
    const mainThreadRun = async () => {
      const chw = hwcToChw(rgb, 640, 640);
      const out = await session.run({ images: new ort.Tensor('float32', chw, [1, 3, 640, 640]) });
      return decodeYoloOutput(out.output0!.data as Float32Array, {
        numClasses: 80, anchors: 6400, confidence: 0.25, iou: 0.45, maxDetections: 100, personClasses: [0], weaponClasses: [1],
      });
    };
    await mainThreadRun();
    const onMain = await maxLoopGap(async () => {
      for (let i = 0; i < 3; i++) await mainThreadRun();
    });
    await session.release();

    const runMs = Math.min(...runs);
    expect(runMs).toBeGreaterThan(10); // each run is real work
    expect(onMain).toBeGreaterThan(10); // ...that stalls the loop when done in-line
    expect(inWorker).toBeLessThan(onMain / 2); // the worker takes it off the loop
    expect(inWorker).toBeLessThan(Math.max(15, runMs / 2));
  }, 60_000);
});

describe('detections through the gateway', () => {
  let gw: TestGateway;
  const dir = tempDir('gw-detector-');
  const tiny = writeModel(dir, 'tiny', { size: 64, stride: 8 });

  beforeAll(async () => {
    gw = await startGateway({ scoring: { enabled: false }, models: { snapshot: { path: tiny.path, weapon_labels: ['knife'] } } });
  });
  afterAll(async () => gw?.stop());

  it('stores person and weapon confidences with boxes on the incident, and queues them for sync', async () => {
    await postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: 'INC_DET' }));
    const img = await scene(800, 400, [{ x: 300, y: 100, size: 100, rgb: { r: 255, g: 0, b: 0 } }]);
    expect((await uploadSnapshot(gw.httpUrl, 'INC_DET', img)).status).toBe(200);
    await gw.gateway.get('snapshots')!.settled();
    const { body } = await getJson(`${gw.httpUrl}/incidents/INC_DET`);
    expect(body.detections).toMatchObject({ model: expect.stringMatching(/^tiny\.onnx@[0-9a-f]{12}$/), boxes: [{ label: 'person', box: [300, 100, 400, 200] }] });
    expect(body.detections.person_conf).toBeGreaterThan(0.99);
    expect(body.detections.weapon_conf).toBeLessThan(0.05);
    const payloads = (sqlite(gw.gateway.store).prepare("SELECT payload FROM outbox WHERE incident_id = 'INC_DET' AND kind = 'annotation'").all() as { payload: string }[]).map((r) => JSON.parse(r.payload));
    expect(payloads).toEqual([expect.objectContaining({ annotation: 'detections', person_conf: body.detections.person_conf })]);
    const health = await getJson(`${gw.httpUrl}/health`);
    expect(health.body.components.snapshot_model).toMatchObject({ status: 'up', runs: 1 });
  });
});
