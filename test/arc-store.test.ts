// DC-09 sequence numbers in the store (migration 12): one counter, 0001..9999 then 0001 again,
// kept across a restart; a station delivery keeps the number its first attempt took.
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { Store } from '../src/store/store.js';
import { tempDir } from './helpers.js';

describe('arc sequence numbers', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('counts 0001..9999, wraps to 0001, and survives a restart', async () => {
    const dir = tempDir();
    dirs.push(dir);
    let store = new Store(dir, createLogger('silent'));
    await store.start();
    expect([store.arc.nextSeq(), store.arc.nextSeq()]).toEqual([1, 2]);
    store.notify.setPosition('arc_seq', 9998);
    expect([store.arc.nextSeq(), store.arc.nextSeq(), store.arc.nextSeq()]).toEqual([9999, 1, 2]);
    await store.stop();
    store = new Store(dir, createLogger('silent'));
    await store.start();
    expect(store.arc.nextSeq()).toBe(3);
    await store.stop();
  });
});
