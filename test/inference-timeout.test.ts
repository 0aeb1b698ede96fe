// The inference thread's timeout (src/scoring/inference.ts) times the model, not this thread:
// when the gateway's own thread was blocked past timeout_ms while the answer arrived, the late
// timer must not throw the answer away. Seen in the hot-swap test under a full parallel suite:
// the test's synchronous train() blocked the loop, and one batch fell back to the reported
// levels (model version null). A model that really does not answer still times out, and
// stop() waits for a run in flight rather than abort the process.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InferenceTimeout, InferenceWorker } from '../src/scoring/inference.js';

const MODEL = join(import.meta.dirname, '..', 'models');
const manifest = JSON.parse(readFileSync(join(MODEL, 'rescorer.json'), 'utf8')) as {
  input: { name: string };
  output: { name: string };
  check: { features: number[] };
};

async function loadedWorker(): Promise<InferenceWorker> {
  const w = new InferenceWorker({ intraOpThreads: 1 });
  w.start();
  await w.load(1, readFileSync(join(MODEL, 'rescorer.onnx')));
  return w;
}

function blockFor(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // a synchronous job on this thread
  }
}

describe('InferenceWorker timeout', () => {
  let worker: InferenceWorker | null = null;
  afterEach(async () => {
    await worker?.stop();
    worker = null;
  });

  it('keeps an answer that arrived while this thread was blocked past the timeout', async () => {
    worker = await loadedWorker();
    const features = Float32Array.from(manifest.check.features);
    // From the loop's check phase, as after an HTTP handler's sync work: the next iteration runs
    // timers before it reads messages. (From inside a worker message callback the port's other
    // messages would be drained first, and the bug would not show.)
    await new Promise((r) => setImmediate(r));
    const run = worker.run(1, manifest.input.name, manifest.output.name, features, 1, features.length, 50);
    blockFor(500); // the worker answers within this; the 50 ms timer is overdue when the loop runs
    const out = await run;
    expect(out).toHaveLength(1);
    expect(worker.busy).toBe(false);
  });

  it('still times out a run that has not answered', async () => {
    worker = await loadedWorker();
    // A million rows: a genuinely slow run (well over the 5 ms allowed), this thread left free.
    const rows = 1_000_000;
    const cols = manifest.check.features.length;
    const features = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) features.set(manifest.check.features, r * cols);
    await expect(worker.run(1, manifest.input.name, manifest.output.name, features, rows, cols, 5)).rejects.toBeInstanceOf(InferenceTimeout);
    expect(worker.busy).toBe(true); // the run goes on in the worker; its answer will be discarded
    // afterEach's stop() waits for it (the next test is about that).
  });

  it('stop() during a run waits for it: terminating inside onnxruntime would abort this process', async () => {
    worker = await loadedWorker();
    const rows = 1_000_000;
    const cols = manifest.check.features.length;
    const run = worker.run(1, manifest.input.name, manifest.output.name, new Float32Array(rows * cols), rows, cols, 30_000);
    await new Promise((r) => setTimeout(r, 20)); // inside the run now (it takes ~300 ms)
    expect(worker.busy).toBe(true);
    await worker.stop(); // before the drain, this aborted the test process (exit 134)
    expect((await run).length).toBe(rows);
    expect(worker.alive).toBe(false);
  });
});
