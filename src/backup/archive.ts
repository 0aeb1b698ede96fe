// The backup archive: a gzipped POSIX tar (pax headers for long names), so `tar -tzf` lists
// it on any machine, with manifest.json as its last entry naming every other entry's size and
// SHA-256. Written by streaming (the database may be gigabytes) and read back the same way.
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, fsyncSync, mkdirSync, openSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, join, normalize, sep } from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { EXIT } from '../errors.js';

export const MANIFEST = 'manifest.json';
export const FORMAT = 'safesphere-edge-backup';
export const FORMAT_VERSION = 1;

/** A backup or restore that cannot go on; `exitCode` is the command's exit code. */
export class BackupError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.DATA_DAMAGED,
  ) {
    super(message);
    this.name = 'BackupError';
  }
}

export interface ArchivedFile {
  /** The entry's name in the archive (relative, '/'-separated). */
  path: string;
  bytes: number;
  sha256: string;
}

export interface Manifest {
  format: typeof FORMAT;
  format_version: number;
  created_at: string;
  gateway_version: string;
  site_id: string;
  db: {
    file: string;
    schema_version: number | null;
    incidents: number;
    max_incident_seq: number;
    outbox_seq: number;
    sync_state: Record<string, number>;
  };
  /** Every entry but the manifest. */
  files: ArchivedFile[];
  /** Snapshot files the database names that were gone when the backup ran (retention deleted them meanwhile). */
  missing: string[];
  /** Entries that go back to an absolute path (a snapshots.dir outside data_dir): entry → path. */
  external: Record<string, string>;
}

const BLOCK = 512;

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function header(name: string, size: number, type: '0' | 'x', mode = 0o600): Buffer {
  const h = Buffer.alloc(BLOCK, 0);
  h.write(name.slice(0, 100), 0, 'utf8');
  h.write(octal(mode, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  if (size > 0o77777777777) throw new BackupError(`${name} is too large for the archive (${size} bytes)`, EXIT.FAILURE);
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(Math.floor(Date.now() / 1000), 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(type, 156, 'ascii');
  h.write('ustar\u000000', 257, 'binary');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}

const padding = (size: number) => Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK, 0);

/** The header(s) of one entry: a pax record first when the name does not fit ustar's 100 bytes. */
function entryHeaders(name: string, size: number): Buffer[] {
  if (Buffer.byteLength(name) <= 100) return [header(name, size, '0')];
  const body = (len: number) => `${len} path=${name}\n`;
  let len = Buffer.byteLength(body(0));
  while (Buffer.byteLength(body(len)) !== len) len = Buffer.byteLength(body(len));
  const record = Buffer.from(body(len));
  return [header(`PaxHeader/${name.slice(-80)}`, record.length, 'x'), record, padding(record.length), header(name.slice(-100), size, '0')];
}

export interface SourceFile {
  /** Entry name. */
  path: string;
  /** File on disk to read. */
  from: string;
}

/** Streams `files` and then the manifest (built by `manifest` from their sizes and hashes) into `out`, gzipped. */
export async function writeArchive(out: string, files: SourceFile[], manifest: (files: ArchivedFile[]) => Manifest): Promise<Manifest> {
  const archived: ArchivedFile[] = [];
  let final: Manifest | null = null;
  async function* entries(): AsyncGenerator<Buffer> {
    for (const f of files) {
      // tar puts the size before the bytes: a file that changes size meanwhile fails the backup below.
      const { size } = await stat(f.from);
      const chunks = createReadStream(f.from);
      for (const h of entryHeaders(f.path, size)) yield h;
      const hash = createHash('sha256');
      let read = 0;
      for await (const chunk of chunks as AsyncIterable<Buffer>) {
        if (read + chunk.length > size) throw new BackupError(`${f.from} grew while it was archived`, EXIT.FAILURE);
        hash.update(chunk);
        read += chunk.length;
        yield chunk;
      }
      if (read !== size) throw new BackupError(`${f.from} shrank while it was archived`, EXIT.FAILURE);
      yield padding(size);
      archived.push({ path: f.path, bytes: size, sha256: hash.digest('hex') });
    }
    final = manifest(archived);
    const body = Buffer.from(`${JSON.stringify(final, null, 2)}\n`);
    for (const h of entryHeaders(MANIFEST, body.length)) yield h;
    yield body;
    yield padding(body.length);
    yield Buffer.alloc(BLOCK * 2, 0);
  }
  mkdirSync(dirname(out), { recursive: true, mode: 0o700 });
  const sink = createWriteStream(out, { mode: 0o600, flags: 'wx' });
  await pipeline(Readable.from(entries()), createGzip({ level: 6 }), sink);
  // pipeline closed the file; fsync it through a fresh descriptor, so it is on disk before we say so.
  const fd = openSync(out, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return final!;
}

/** A safe relative entry name: no absolute paths, no `..`, nothing but plain segments. */
export function safeEntryName(name: string): boolean {
  if (!name || name.startsWith('/') || name.includes('\\') || name.includes('\0')) return false;
  const parts = name.split('/');
  return parts.every((p) => p !== '' && p !== '.' && p !== '..');
}

/**
 * Extracts `file` into the directory `into` (which must exist), checking every entry against
 * the manifest: same names, sizes and SHA-256s, nothing more and nothing less.
 */
export async function readArchive(file: string, into: string): Promise<Manifest> {
  const seen = new Map<string, ArchivedFile>();
  let manifestText: string | null = null;
  let buffer: Buffer = Buffer.alloc(0);
  let current: { name: string; size: number; left: number; hash: ReturnType<typeof createHash>; out: Writable | null; mem: Buffer[] | null; pad: number } | null = null;
  let paxPath: string | null = null;
  let ended = false;

  const finishEntry = async () => {
    const c = current!;
    current = null;
    if (c.out) await new Promise<void>((resolve, reject) => c.out!.end((err?: Error | null) => (err ? reject(err) : resolve())));
    if (c.mem && c.name === '\0pax') {
      const text = Buffer.concat(c.mem).toString('utf8');
      const m = /\d+ path=([^\n]*)\n/.exec(text);
      paxPath = m ? m[1]! : null;
    } else if (c.mem && c.name === MANIFEST) {
      manifestText = Buffer.concat(c.mem).toString('utf8');
    } else {
      seen.set(c.name, { path: c.name, bytes: c.size, sha256: c.hash.digest('hex') });
    }
  };

  const consume = async () => {
    for (;;) {
      if (ended) return;
      if (current) {
        if (current.left > 0) {
          if (buffer.length === 0) return;
          const take = buffer.subarray(0, Math.min(buffer.length, current.left));
          buffer = buffer.subarray(take.length);
          current.left -= take.length;
          current.hash.update(take);
          if (current.mem) current.mem.push(Buffer.from(take));
          else if (current.out && !current.out.write(Buffer.from(take))) await new Promise((r) => current!.out!.once('drain', r));
          continue;
        }
        if (buffer.length < current.pad) return;
        buffer = buffer.subarray(current.pad);
        await finishEntry();
        continue;
      }
      if (buffer.length < BLOCK) return;
      const h = buffer.subarray(0, BLOCK);
      buffer = buffer.subarray(BLOCK);
      if (h.every((b) => b === 0)) {
        ended = true;
        return;
      }
      let sum = 0;
      for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
      if (parseInt(h.toString('ascii', 148, 156).replace(/\0.*$/, '').trim(), 8) !== sum) throw new BackupError(`${file} is damaged: a tar header checksum is wrong`);
      const size = parseInt(h.toString('ascii', 124, 136).replace(/\0.*$/, '').trim() || '0', 8);
      const type = String.fromCharCode(h[156]!);
      const rawName = h.toString('utf8', 0, 100).replace(/\0.*$/s, '');
      const pad = (BLOCK - (size % BLOCK)) % BLOCK;
      const base = { size, left: size, hash: createHash('sha256'), pad };
      if (type === 'x') {
        current = { ...base, name: '\0pax', out: null, mem: [] };
        continue;
      }
      const name = paxPath ?? rawName;
      paxPath = null;
      if (type !== '0' && type !== '\0') throw new BackupError(`${file}: entry ${name} is not a regular file`);
      if (!safeEntryName(name)) throw new BackupError(`${file}: entry name ${JSON.stringify(name)} is not allowed (absolute or with ..)`);
      if (seen.has(name) || name === MANIFEST && manifestText !== null) throw new BackupError(`${file}: entry ${name} appears twice`);
      if (name === MANIFEST) {
        current = { ...base, name, out: null, mem: [] };
        continue;
      }
      const target = normalize(join(into, ...name.split('/')));
      if (!target.startsWith(normalize(into) + sep)) throw new BackupError(`${file}: entry ${name} leaves the restore directory`);
      mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
      current = { ...base, name, out: createWriteStream(target, { mode: 0o600, flags: 'wx' }), mem: null };
    }
  };

  const reader = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
      consume().then(() => cb(), cb);
    },
    flush(cb) {
      consume().then(() => cb(), cb);
    },
  });
  try {
    await pipeline(createReadStream(file), createGunzip(), reader, new Writable({ write: (_c, _e, cb) => cb() }));
  } catch (err) {
    if (err instanceof BackupError) throw err;
    throw new BackupError(`${file} is not a readable backup archive (${(err as Error).message})`);
  }
  if (current || !ended) throw new BackupError(`${file} is damaged: the archive ends in the middle (a partial copy?)`);
  if (manifestText === null) throw new BackupError(`${file} has no ${MANIFEST}: not a SafeSphere Edge backup`);
  let manifest: Manifest;
  try {
    manifest = JSON.parse(manifestText) as Manifest;
  } catch {
    throw new BackupError(`${file}: ${MANIFEST} is not valid JSON`);
  }
  if (manifest.format !== FORMAT || manifest.format_version !== FORMAT_VERSION) {
    throw new BackupError(`${file}: not a SafeSphere Edge backup of format ${FORMAT_VERSION} (found ${manifest.format} ${manifest.format_version})`);
  }
  const problems: string[] = [];
  for (const f of manifest.files) {
    const got = seen.get(f.path);
    if (!got) problems.push(`${f.path} is missing`);
    else if (got.bytes !== f.bytes || got.sha256 !== f.sha256) problems.push(`${f.path} does not match its SHA-256 in the manifest`);
  }
  for (const name of seen.keys()) if (!manifest.files.some((f) => f.path === name)) problems.push(`${name} is not in the manifest`);
  if (problems.length) throw new BackupError(`${file} is damaged: ${problems.slice(0, 5).join('; ')}`);
  return manifest;
}
