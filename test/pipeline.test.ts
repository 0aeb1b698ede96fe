import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { rmSync } from 'node:fs';
import { loadConfig } from '../src/config/load.js';
import { EventBus } from '../src/events/bus.js';
import { IngestPipeline } from '../src/pipeline/ingest.js';
import { ActionPolicy } from '../src/policy/policy.js';
import { ReportedLevelScorer, type Scorer } from '../src/scoring/scorer.js';
import { Store } from '../src/store/store.js';
import { ReportValidator } from '../src/validate/report.js';
import { createLogger } from '../src/logger.js';
import { LogCapture, seedReport, tempDir } from './helpers.js';

describe('group commit', () => {
  const config = loadConfig();
  let dir: string;
  let store: Store;
  let logs: LogCapture;
  let batches: number[];
  const validator = new ReportValidator(config.report);
  const report = (i: number) => validator.validate(seedReport({ incident_id: `INC_${i}` }), 'http', null);

  function pipeline(scorer: Scorer = new ReportedLevelScorer(), ingest = config.ingest) {
    const log = createLogger('info', logs);
    return new IngestPipeline(ingest, store, scorer, new ActionPolicy(config.policy), new EventBus(log), log, {
      batchCommitted: (size) => batches.push(size),
    });
  }

  beforeEach(async () => {
    dir = tempDir();
    logs = new LogCapture();
    batches = [];
    store = new Store(dir, createLogger('silent'));
    await store.start();
  });
  afterEach(async () => {
    vi.useRealTimers();
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('commits reports that arrive within the window in one transaction', async () => {
    vi.useFakeTimers();
    const p = pipeline();
    await p.start();
    const acks = [1, 2, 3, 4, 5].map((i) => p.submit(report(i)));
    expect(store.getIncident('INC_1')).toBeNull(); // nothing is written before the window closes
    await vi.advanceTimersByTimeAsync(config.ingest.commit_window_ms);
    const outcomes = await Promise.all(acks);
    expect(outcomes.map((o) => o.kind)).toEqual(['stored', 'stored', 'stored', 'stored', 'stored']);
    expect(batches).toEqual([5]);
  });

  it('commits a full batch at once without waiting for the window', async () => {
    vi.useFakeTimers();
    const p = pipeline(undefined, { ...config.ingest, commit_max_batch: 3, commit_window_ms: 50 });
    await p.start();
    const acks = [1, 2, 3].map((i) => p.submit(report(i)));
    await vi.advanceTimersByTimeAsync(0);
    await Promise.all(acks);
    expect(batches).toEqual([3]);
  });

  it('refuses work beyond max_pending instead of growing memory, and after stop()', async () => {
    vi.useFakeTimers();
    const p = pipeline(undefined, { ...config.ingest, max_pending: 2, commit_window_ms: 50 });
    await p.start();
    const first = [p.submit(report(1)), p.submit(report(2))];
    await expect(p.submit(report(3))).rejects.toMatchObject({ code: 'OVERLOADED', statusCode: 503 });
    const stopped = p.stop(); // flushes the queue without waiting for the window
    await expect(Promise.all(first)).resolves.toHaveLength(2);
    await stopped;
    await expect(p.submit(report(4))).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
  });

  it('falls back to the reported level when the scorer throws, and drops nothing', async () => {
    const broken: Scorer = { scoreBatch: () => Promise.reject(new Error('model exploded')) };
    const p = pipeline(broken);
    await p.start();
    const outcome = await p.submit(report(1));
    expect(outcome.incident.threat_level).toBe('CRITICAL');
    expect(outcome.incident.model_version).toBeNull();
    expect(logs.lines.some((l) => l.msg === 'scorer failed; using the reported levels')).toBe(true);
  });

  it('refuses the batch with STORAGE_FULL when the disk is full, so cameras retry', async () => {
    const p = pipeline();
    await p.start();
    const full = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    vi.spyOn(store, 'commitBatch').mockImplementation(() => {
      throw full;
    });
    await expect(p.submit(report(1))).rejects.toMatchObject({ code: 'STORAGE_FULL', statusCode: 507 });
  });

  it('emits the stored incident and each planned action on the bus after the ack', async () => {
    const log = createLogger('silent');
    const bus = new EventBus(log);
    const p = new IngestPipeline(config.ingest, store, new ReportedLevelScorer(), new ActionPolicy(config.policy), bus, log);
    await p.start();
    const order: string[] = [];
    const planned = new Promise<void>((resolve) => {
      bus.on('incident.stored', () => {
        order.push('stored-event');
      });
      let n = 0;
      bus.on('action.planned', () => {
        if (++n === 7) resolve();
      });
    });
    await p.submit(report(1)).then(() => order.push('ack'));
    await planned;
    expect(order).toEqual(['ack', 'stored-event']);
  });
});

describe('event bus', () => {
  it('logs a failing listener and still runs the others', async () => {
    const logs = new LogCapture();
    const bus = new EventBus(createLogger('info', logs));
    const seen: string[] = [];
    bus.on('report.rejected', () => {
      throw new Error('boom');
    });
    bus.on('report.rejected', async () => {
      throw new Error('async boom');
    });
    bus.on('report.rejected', (e) => {
      seen.push(e.code);
    });
    bus.emit('report.rejected', { source: 'mqtt', cameraId: 'c1', code: 'INVALID_REPORT', message: 'x' });
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(['INVALID_REPORT']);
    expect(logs.lines.filter((l) => l.msg === 'event listener failed')).toHaveLength(2);
  });
});

describe('group commit without a window', () => {
  it('still batches the reports submitted in the same turn of the event loop', async () => {
    const config = loadConfig();
    const dir = tempDir();
    const store = new Store(dir, createLogger('silent'));
    await store.start();
    const batches: number[] = [];
    const log = createLogger('silent');
    const p = new IngestPipeline(
      { ...config.ingest, commit_window_ms: 0 },
      store,
      new ReportedLevelScorer(),
      new ActionPolicy(config.policy),
      new EventBus(log),
      log,
      { batchCommitted: (size) => batches.push(size) },
    );
    await p.start();
    const validator = new ReportValidator(config.report);
    await Promise.all([1, 2, 3, 4].map((i) => p.submit(validator.validate(seedReport({ incident_id: `W0_${i}` }), 'http', null))));
    expect(batches).toEqual([4]);
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  });
});
