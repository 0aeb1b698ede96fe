// onnxruntime-node in a worker thread. Its `session.run` executes synchronously on the
// calling thread, so on the main thread a slow or stuck model would stall every socket
// and every commit. In a worker it can only be late: the caller waits at most
// `timeoutMs` per batch, and while a run is overdue further batches do not wait at all.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const require = createRequire(import.meta.url);

// Plain CommonJS, evaluated in the worker (no build step, identical under tsx, vitest and dist/).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
const sessions = new Map();
const reply = (msg, transfer) => parentPort.postMessage(msg, transfer || []);
parentPort.on('message', async (msg) => {
  try {
    if (msg.type === 'load') {
      const session = await ort.InferenceSession.create(new Uint8Array(msg.bytes), {
        intraOpNumThreads: msg.intraOpThreads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        // The re-scorer's tensors are a few KB: onnxruntime's CPU arena would keep its first chunk
        // (and every extension) for the process's life, for nothing.
        enableCpuMemArena: false,
      });
      const inputs = session.inputMetadata.map((m) => ({ name: m.name, isTensor: m.isTensor, type: m.type, shape: m.shape }));
      const outputs = session.outputMetadata.map((m) => ({ name: m.name, isTensor: m.isTensor, type: m.type, shape: m.shape }));
      sessions.set(msg.modelId, session);
      reply({ type: 'loaded', id: msg.id, inputs, outputs });
    } else if (msg.type === 'run') {
      const session = sessions.get(msg.modelId);
      if (!session) throw new Error('model ' + msg.modelId + ' is not loaded');
      const input = new ort.Tensor('float32', new Float32Array(msg.data), [msg.rows, msg.cols]);
      const out = await session.run({ [msg.input]: input });
      const data = Float32Array.from(out[msg.output].data);
      reply({ type: 'result', id: msg.id, data: data.buffer }, [data.buffer]);
    } else if (msg.type === 'dispose') {
      const session = sessions.get(msg.modelId);
      sessions.delete(msg.modelId);
      if (session) await session.release();
      reply({ type: 'disposed', id: msg.id });
    }
  } catch (err) {
    reply({ type: 'error', id: msg.id, message: String(err && err.message || err) });
  }
});
`;

/** How long stop() waits for a run in flight before it terminates the thread. */
const STOP_DRAIN_MS = 2000;

/** The inference thread's young generation (README, "Memory"). */
const INFERENCE_YOUNG_GENERATION_MB = 2;

export interface TensorInfo {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: (number | string)[];
}

export class InferenceTimeout extends Error {
  constructor(ms: number) {
    super(`inference took longer than ${ms} ms`);
    this.name = 'InferenceTimeout';
  }
}

export class InferenceBusy extends Error {
  constructor() {
    super('an earlier inference is still running');
    this.name = 'InferenceBusy';
  }
}

type Reply =
  | { type: 'loaded'; id: number; inputs: TensorInfo[]; outputs: TensorInfo[] }
  | { type: 'result'; id: number; data: ArrayBuffer }
  | { type: 'disposed'; id: number }
  | { type: 'error'; id: number; message: string };

export interface InferenceOptions {
  intraOpThreads: number;
}

/** One worker thread holding onnxruntime sessions, addressed by model id. */
export class InferenceWorker {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  /** Runs sent and not yet answered (an overdue run still counts). */
  private runsInFlight = 0;
  /** When the oldest unanswered run was sent (0: none). */
  private runSentAt = 0;
  private exitError: Error | null = null;
  /** stop() callers waiting for the runs in flight to answer. */
  private readonly idleWaiters = new Set<() => void>();

  constructor(private readonly options: InferenceOptions) {}

  start(): void {
    if (this.worker) return;
    this.exitError = null;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { ortPath: require.resolve('onnxruntime-node') },
      // This thread only passes small messages and tensors; V8's default young generation (or
      // npm start's --max-semi-space-size) would let it grow, and keep, megabytes it never needs.
      resourceLimits: { maxYoungGenerationSizeMb: INFERENCE_YOUNG_GENERATION_MB },
    });
    worker.on('message', (msg: Reply) => {
      if (this.runIds.delete(msg.id) && --this.runsInFlight === 0) this.wakeIdle();
      const w = this.waiting.get(msg.id);
      if (!w) return; // a run we stopped waiting for
      this.waiting.delete(msg.id);
      if (msg.type === 'error') w.reject(new Error(msg.message));
      else w.resolve(msg);
    });
    const fail = (err: Error) => {
      this.exitError = err;
      this.worker = null;
      this.runsInFlight = 0;
      this.runIds.clear();
      this.wakeIdle();
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
    worker.on('error', (err) => fail(err));
    worker.on('exit', (code) => fail(new Error(`inference worker exited (code ${code})`)));
    // Not unref()ed: a pending load or run must keep the process alive; stop() terminates it.
    this.worker = worker;
  }

  private readonly runIds = new Set<number>();

  /**
   * Stops the thread, first waiting up to `drainMs` for the runs in flight to answer. Terminating
   * it while onnxruntime is inside a run aborts the whole process (onnxruntime-node throws a C++
   * exception as the thread stops: "terminate called after throwing an instance of
   * 'Napi::Error'", exit 134, measured on Node 20), so a shutdown that lands on a normal run
   * (milliseconds) waits for it. A run still going after `drainMs` is stuck, and terminating is
   * all that is left.
   */
  async stop(drainMs = STOP_DRAIN_MS): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    if (this.runsInFlight > 0 && drainMs > 0) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.idleWaiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, drainMs);
        this.idleWaiters.add(done);
      });
    }
    if (this.worker !== worker) return; // it exited (or another stop() finished) meanwhile
    this.worker = null;
    await worker.terminate();
  }

  private wakeIdle(): void {
    for (const wake of [...this.idleWaiters]) wake();
  }

  get busy(): boolean {
    return this.runsInFlight > 0;
  }

  /** How long the unanswered run has been going (0 when none). */
  get overdueMs(): number {
    return this.runsInFlight > 0 ? Date.now() - this.runSentAt : 0;
  }

  get alive(): boolean {
    return this.worker !== null;
  }

  private send(message: Record<string, unknown>, transfer: ArrayBuffer[] = []): { id: number; reply: Promise<Reply> } {
    if (!this.worker) throw this.exitError ?? new Error('inference worker is not running');
    const id = this.nextId++;
    const reply = new Promise<Reply>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    this.worker.postMessage({ ...message, id }, transfer);
    return { id, reply };
  }

  /** Creates a session from ONNX bytes; resolves with its input and output metadata. */
  async load(modelId: number, bytes: Uint8Array): Promise<{ inputs: TensorInfo[]; outputs: TensorInfo[] }> {
    const copy = new Uint8Array(bytes).buffer; // a copy: a Buffer may be a view into a shared pool
    const r = (await this.send({ type: 'load', modelId, bytes: copy, intraOpThreads: this.options.intraOpThreads }, [copy]).reply) as Extract<
      Reply,
      { type: 'loaded' }
    >;
    return { inputs: r.inputs, outputs: r.outputs };
  }

  async dispose(modelId: number): Promise<void> {
    if (!this.worker) return;
    await this.send({ type: 'dispose', modelId }).reply;
  }

  /**
   * Runs `rows` feature vectors. Rejects with InferenceBusy at once if an earlier run is
   * still going, and with InferenceTimeout after `timeoutMs` (the run goes on in the
   * worker; its answer is discarded).
   */
  async run(
    modelId: number,
    input: string,
    output: string,
    data: Float32Array,
    rows: number,
    cols: number,
    timeoutMs: number,
    /** False for a load's self-check: it neither waits for nor blocks the pipeline's runs. */
    gated = true,
  ): Promise<Float32Array> {
    if (gated && this.runsInFlight > 0) throw new InferenceBusy();
    const buffer = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
    const { id, reply } = this.send({ type: 'run', modelId, input, output, data: buffer, rows, cols }, [buffer]);
    if (gated) {
      this.runsInFlight++;
      this.runSentAt = Date.now();
      this.runIds.add(id);
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // Timers run before the loop reads the worker's messages: after this thread was blocked
        // (a long synchronous job, a starved CPU) a timer can fire with the answer already
        // waiting. Let the loop read it first (setImmediate runs after that poll); time out only
        // if it still has not come.
        setImmediate(() => {
          if (!this.waiting.delete(id)) return;
          reject(new InferenceTimeout(timeoutMs));
        });
      }, timeoutMs);
    });
    try {
      const r = (await Promise.race([reply, timeout])) as Extract<Reply, { type: 'result' }>;
      return new Float32Array(r.data);
    } finally {
      clearTimeout(timer);
    }
  }
}
