// The committed-seq high-water mark: <data_dir>/commit-mark, a small file outside the database
// and its WAL. Two fixed 256-byte slots, written alternately in place (pwrite + fdatasync, no
// rename): each holds a generation, the counters and a checksum, so a torn write spoils at most
// the slot being written and the other one still holds the previous mark.
import { createHash } from 'node:crypto';
import { existsSync, openSync, closeSync, fsyncSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { SeqCounters } from '../store/high-water.js';

const SLOT = 256;
const RECORD = /^SSHW1 (\{[^\n]*\}) ([0-9a-f]{16}) *\n$/;

export interface Mark extends SeqCounters {
  gen: number;
  at: string;
}

const digest = (json: string) => createHash('sha256').update(json).digest('hex').slice(0, 16);

export function encodeSlot(mark: Mark): Buffer {
  const json = JSON.stringify(mark);
  const text = `SSHW1 ${json} ${digest(json)}`;
  if (text.length > SLOT - 1) throw new Error('commit mark record too long');
  return Buffer.from(`${text.padEnd(SLOT - 1, ' ')}\n`, 'utf8');
}

export function decodeSlot(bytes: Buffer): Mark | null {
  const m = RECORD.exec(bytes.toString('utf8'));
  if (!m || digest(m[1]!) !== m[2]) return null;
  try {
    const mark = JSON.parse(m[1]!) as Mark;
    const ok = [mark.gen, mark.incident_seq, mark.outbox_seq, mark.feed_seq].every((n) => Number.isSafeInteger(n) && n >= 0);
    return ok ? mark : null;
  } catch {
    return null;
  }
}

export class MarkFile {
  readonly file: string;
  private handle: FileHandle | null = null;
  private last: Mark | null = null;

  constructor(dataDir: string) {
    this.file = join(resolve(dataDir), 'commit-mark');
  }

  /** The newest valid mark, or null (no file yet, or both slots unreadable: `damaged`). */
  async open(): Promise<{ mark: Mark | null; damaged: boolean }> {
    const existed = existsSync(this.file);
    this.handle = await open(this.file, existed ? 'r+' : 'w+', 0o600);
    if (!existed) {
      // The new name itself must survive a power cut: fsync the directory once.
      const dir = openSync(dirname(this.file), 'r');
      try {
        fsyncSync(dir);
      } finally {
        closeSync(dir);
      }
      return { mark: null, damaged: false };
    }
    const buf = Buffer.alloc(SLOT * 2);
    const { bytesRead } = await this.handle.read(buf, 0, buf.length, 0);
    const slots = [decodeSlot(buf.subarray(0, Math.min(SLOT, bytesRead))), bytesRead > SLOT ? decodeSlot(buf.subarray(SLOT, bytesRead)) : null];
    const valid = slots.filter((s): s is Mark => s !== null).sort((a, b) => b.gen - a.gen);
    this.last = valid[0] ?? null;
    return { mark: this.last, damaged: bytesRead > 0 && valid.length === 0 };
  }

  get current(): Mark | null {
    return this.last;
  }

  /** Writes `counters` as the next generation and fsyncs it. Never lowers a counter. */
  async write(counters: SeqCounters): Promise<Mark> {
    if (!this.handle) throw new Error('commit mark is not open');
    const prev = this.last;
    const mark: Mark = {
      gen: (prev?.gen ?? 0) + 1,
      incident_seq: Math.max(prev?.incident_seq ?? 0, counters.incident_seq),
      outbox_seq: Math.max(prev?.outbox_seq ?? 0, counters.outbox_seq),
      feed_seq: Math.max(prev?.feed_seq ?? 0, counters.feed_seq),
      at: new Date().toISOString(),
    };
    await this.handle.write(encodeSlot(mark), 0, SLOT, (mark.gen % 2) * SLOT);
    await this.handle.datasync();
    this.last = mark;
    return mark;
  }

  async close(): Promise<void> {
    const h = this.handle;
    this.handle = null;
    await h?.close();
  }
}
