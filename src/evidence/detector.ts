// The optional image model: a YOLOv8-style ONNX detector (output [1, 4+C, N], a label
// file) run on each stored snapshot. sharp letterboxes the snapshot to the model input
// (libuv threadpool); onnxruntime runs in a worker thread, as the re-scorer's does,
// because `session.run` blocks the thread it runs on; decoding and NMS run there too.
// Its person and weapon confidences are stored on the incident (table `detections`).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { loadSharp } from './sharp.js';
import type { GatewayConfig } from '../config/schema.js';
import type { ComponentHealth } from '../health.js';
import type { Logger } from '../logger.js';
import { decodeYoloOutput, hwcToChw, letterbox, unletterboxBox, type Decoded, type DecodeOptions } from './yolo.js';
import type { Detection } from '../store/snapshots.js';

const require = createRequire(import.meta.url);

// Plain CommonJS evaluated in the worker; the decoding functions are yolo.ts's own source.
// `__name` is the helper esbuild (tsx, vitest) inserts to keep function names.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
const __name = (f) => f;
const decodeYoloOutput = ${decodeYoloOutput.toString()};
const hwcToChw = ${hwcToChw.toString()};
let session = null;
parentPort.on('message', async (msg) => {
  try {
    if (msg.type === 'load') {
      session = await ort.InferenceSession.create(new Uint8Array(msg.bytes), {
        intraOpNumThreads: msg.intraOpThreads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
      });
      const meta = (list) => list.map((m) => ({ name: m.name, isTensor: m.isTensor, type: m.type, shape: m.shape }));
      parentPort.postMessage({ type: 'loaded', id: msg.id, inputs: meta(session.inputMetadata), outputs: meta(session.outputMetadata) });
    } else if (msg.type === 'run') {
      const started = performance.now();
      const chw = hwcToChw(new Uint8Array(msg.rgb), msg.width, msg.height);
      const input = new ort.Tensor('float32', chw, [1, 3, msg.height, msg.width]);
      const out = await session.run({ [msg.input]: input });
      const tensor = out[msg.output];
      const dims = tensor.dims;
      if (dims.length !== 3 || dims[0] !== 1 || dims[1] !== 4 + msg.decode.numClasses) {
        throw new Error('output shape [' + dims.join(', ') + '] is not [1, 4 + ' + msg.decode.numClasses + ', N]');
      }
      const decoded = decodeYoloOutput(tensor.data, { ...msg.decode, anchors: dims[2] });
      parentPort.postMessage({ type: 'result', id: msg.id, decoded, ms: performance.now() - started });
    }
  } catch (err) {
    parentPort.postMessage({ type: 'error', id: msg.id, message: String((err && err.message) || err) });
  }
});
`;

interface TensorMeta {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: (number | string)[];
}

type Reply =
  | { type: 'loaded'; id: number; inputs: TensorMeta[]; outputs: TensorMeta[] }
  | { type: 'result'; id: number; decoded: Decoded; ms: number }
  | { type: 'error'; id: number; message: string };

export type { Detection };

export interface DetectionResult {
  model: string;
  person: number;
  weapon: number;
  detections: Detection[];
  /** Worker time: tensor conversion, session.run, decoding. */
  inferenceMs: number;
  /** Letterbox (sharp) plus worker time plus messaging. */
  totalMs: number;
}

const MAX_WAITING = 16;
const DEFAULT_INPUT = 640;

export class SnapshotDetector {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private labels: string[] = [];
  private inputName = '';
  private outputName = '';
  private inputW = DEFAULT_INPUT;
  private inputH = DEFAULT_INPUT;
  private modelName = '';
  private decode: Omit<DecodeOptions, 'anchors'> | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private queued = 0;
  private lastError: { at: string; message: string } | null = null;
  readonly stats = { runs: 0, skipped: 0, timeouts: 0, errors: 0, last_ms: 0 };

  constructor(
    private readonly config: GatewayConfig['models']['snapshot'],
    private readonly log: Logger,
  ) {}

  /** True once a model is loaded and validated. */
  get ready(): boolean {
    return this.decode !== null && this.worker !== null;
  }

  get enabled(): boolean {
    return this.config.path !== '';
  }

  get inputSize(): { width: number; height: number } {
    return { width: this.inputW, height: this.inputH };
  }

  /** Loads and validates the model. A bad model is logged and leaves the stage off (health: degraded); it never stops the gateway. */
  async start(): Promise<void> {
    if (!this.enabled) {
      this.log.info('snapshot model off (models.snapshot.path is empty)');
      return;
    }
    try {
      await this.load();
      this.log.info({ model: this.modelName, input: [this.inputW, this.inputH], classes: this.labels.length }, 'snapshot model loaded');
    } catch (err) {
      this.lastError = { at: new Date().toISOString(), message: (err as Error).message };
      this.log.error({ err: (err as Error).message, path: this.config.path }, 'snapshot model refused; snapshots are stored without detections');
      await this.stop();
    }
  }

  async stop(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    this.decode = null;
    if (worker) await worker.terminate();
  }

  private async load(): Promise<void> {
    const path = resolve(this.config.path);
    const bytes = readFileSync(path);
    const labelsPath = this.config.labels ? resolve(this.config.labels) : path.replace(/\.onnx$/i, '') + '.txt';
    const labels = readFileSync(labelsPath, 'utf8')
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l !== '');
    if (labels.length === 0) throw new Error(`label file ${labelsPath} lists no classes`);
    this.modelName = `${basename(path)}@${createHash('sha256').update(bytes).digest('hex').slice(0, 12)}`;

    this.startWorker();
    const copy = new Uint8Array(bytes).buffer;
    const loaded = (await this.send({ type: 'load', bytes: copy, intraOpThreads: this.config.intra_op_threads }, [copy], 60_000)) as Extract<
      Reply,
      { type: 'loaded' }
    >;
    const input = loaded.inputs[0];
    const output = loaded.outputs[0];
    if (loaded.inputs.length !== 1 || !input?.isTensor || input.type !== 'float32') {
      throw new Error('the detector must have exactly one float32 input [1, 3, H, W]');
    }
    const shape = input.shape ?? [];
    if (shape.length !== 4 || (typeof shape[1] === 'number' && shape[1] !== 3)) {
      throw new Error(`input shape [${shape.join(', ')}] is not [1, 3, H, W]`);
    }
    this.inputH = typeof shape[2] === 'number' ? shape[2] : DEFAULT_INPUT;
    this.inputW = typeof shape[3] === 'number' ? shape[3] : DEFAULT_INPUT;
    if (!output?.isTensor) throw new Error('the detector has no tensor output');
    const oshape = output.shape ?? [];
    if (oshape.length !== 3 || (typeof oshape[1] === 'number' && oshape[1] !== 4 + labels.length)) {
      throw new Error(`output shape [${oshape.join(', ')}] is not [1, 4 + ${labels.length} classes, N] (the label file has ${labels.length} lines)`);
    }
    const indices = (names: string[]) => {
      const wanted = new Set(names.map((n) => n.toLowerCase()));
      return labels.flatMap((l, i) => (wanted.has(l.toLowerCase()) ? [i] : []));
    };
    this.labels = labels;
    this.inputName = input.name;
    this.outputName = output.name;
    this.decode = {
      numClasses: labels.length,
      confidence: this.config.confidence,
      iou: this.config.iou,
      maxDetections: 100,
      personClasses: indices(this.config.person_labels),
      weaponClasses: indices(this.config.weapon_labels),
    };
    if (this.decode.personClasses.length === 0) this.log.warn({ labels: labelsPath }, 'no person class in the label file; person confidence stays 0');
    if (this.decode.weaponClasses.length === 0) this.log.warn({ labels: labelsPath }, 'no weapon class in the label file; weapon confidence stays 0');
  }

  private startWorker(): void {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ortPath: require.resolve('onnxruntime-node') } });
    worker.on('message', (msg: Reply) => {
      const w = this.waiting.get(msg.id);
      if (!w) return;
      this.waiting.delete(msg.id);
      if (msg.type === 'error') w.reject(new Error(msg.message));
      else w.resolve(msg);
    });
    const fail = (err: Error) => {
      if (this.worker === worker) {
        this.worker = null;
        this.decode = null;
        this.lastError = { at: new Date().toISOString(), message: err.message };
      }
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`detector worker exited (code ${code})`)));
    this.worker = worker;
  }

  private send(message: Record<string, unknown>, transfer: ArrayBuffer[], timeoutMs: number): Promise<Reply> {
    const worker = this.worker;
    if (!worker) return Promise.reject(new Error('detector worker is not running'));
    const id = this.nextId++;
    return new Promise<Reply>((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`detector took longer than ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (r) => (clearTimeout(timer), resolvePromise(r)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      worker.postMessage({ ...message, id }, transfer);
    });
  }

  /** Letterboxes `image` to the model input with sharp: RGB bytes, padded with grey 114 as in training. */
  async letterboxed(image: Buffer, srcW: number, srcH: number): Promise<{ rgb: Buffer; lb: ReturnType<typeof letterbox> }> {
    const lb = letterbox(srcW, srcH, this.inputW, this.inputH);
    const sharp = await loadSharp();
    const rgb = await sharp(image)
      .removeAlpha()
      .resize(lb.width, lb.height, { fit: 'fill', kernel: 'linear' })
      .extend({ top: lb.padTop, bottom: lb.padBottom, left: lb.padLeft, right: lb.padRight, background: { r: 114, g: 114, b: 114 } })
      .raw()
      .toBuffer();
    return { rgb, lb };
  }

  /**
   * Runs the detector on a stored snapshot (`width`×`height`, already auto-oriented).
   * Resolves null when the stage is off, too many snapshots wait, or the run failed
   * or timed out (logged, counted); never rejects.
   */
  detect(image: Buffer, width: number, height: number): Promise<DetectionResult | null> {
    if (!this.ready) return Promise.resolve(null);
    if (this.queued >= MAX_WAITING) {
      this.stats.skipped++;
      return Promise.resolve(null);
    }
    this.queued++;
    // One run at a time in the worker: runs queue here, bounded above.
    const run = this.chain.then(() => this.runOne(image, width, height));
    this.chain = run.catch(() => undefined);
    return run.finally(() => this.queued--);
  }

  private async runOne(image: Buffer, width: number, height: number): Promise<DetectionResult | null> {
    const decode = this.decode;
    if (!decode) return null;
    const started = performance.now();
    try {
      const { rgb, lb } = await this.letterboxed(image, width, height);
      const buffer = rgb.buffer.slice(rgb.byteOffset, rgb.byteOffset + rgb.byteLength) as ArrayBuffer;
      const reply = (await this.send(
        { type: 'run', rgb: buffer, width: this.inputW, height: this.inputH, input: this.inputName, output: this.outputName, decode },
        [buffer],
        this.config.timeout_ms,
      )) as Extract<Reply, { type: 'result' }>;
      this.stats.runs++;
      this.stats.last_ms = reply.ms;
      return {
        model: this.modelName,
        person: reply.decoded.person,
        weapon: reply.decoded.weapon,
        detections: reply.decoded.detections.map((d) => ({
          label: this.labels[d.cls] ?? String(d.cls),
          confidence: d.confidence,
          box: unletterboxBox(d.box, lb, width, height).map((v) => Math.round(v * 10) / 10) as Detection['box'],
        })),
        inferenceMs: reply.ms,
        totalMs: performance.now() - started,
      };
    } catch (err) {
      const message = (err as Error).message;
      if (/longer than/.test(message)) this.stats.timeouts++;
      else this.stats.errors++;
      this.lastError = { at: new Date().toISOString(), message };
      this.log.warn({ err: message }, 'snapshot detection failed; the snapshot is kept without detections');
      return null;
    }
  }

  health(): ComponentHealth {
    if (!this.enabled) return { status: 'up', model: null, note: 'off (models.snapshot.path is empty)' };
    return {
      status: this.ready ? 'up' : 'degraded',
      model: this.ready ? this.modelName : null,
      input: [this.inputW, this.inputH],
      ...this.stats,
      last_error: this.lastError,
    };
  }
}
