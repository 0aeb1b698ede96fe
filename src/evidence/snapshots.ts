// Evidence snapshots: one for each incident, from HTTP (POST /upload/screenshot) or MQTT
// (safesphere/cameras/<camera_id>/snapshots/<incident_id>), through the same `ingest`.
//
//   bytes ─▶ id checks ─▶ sha256 (dedupe) ─▶ sharp (bounded concurrency) ─▶ files (fsync, rename)
//         ─▶ incident stored?  yes: ONE transaction: snapshots row + outbox 'snapshot' entry
//                              no:  held (files + snapshots_held row), attached when the report
//                                   commits, dropped with a log line after snapshots.hold_s or
//                                   when the hold is full (oldest first)
//         ─▶ answer (HTTP 200 / PUBACK): the snapshot is on disk and in the database
//         ─▶ afterwards, off every critical path: the image model, then "evidence ready" (AI)
//
// File names come only from the validated incident_id (`<incident_id>_screenshot.jpg`,
// `<incident_id>_thumb.jpg`); the upload's own name never reaches the file system.
import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ID_PATTERN, type GatewayConfig } from '../config/schema.js';
import { ERRORS, GatewayError } from '../errors.js';
import type { EventBus } from '../events/bus.js';
import type { ComponentHealth } from '../health.js';
import type { Logger } from '../logger.js';
import type { DetectionRecord, SnapshotRecord, SnapshotRepository } from '../store/snapshots.js';
import type { Store } from '../store/store.js';
import type { SnapshotDetector, DetectionResult } from './detector.js';
import { processImage, sniffFormat, tooManyBytes, type ProcessedImage } from './image.js';

const INCIDENT_ID = new RegExp(ID_PATTERN);

export type SnapshotSource = 'mqtt' | 'http';

export interface SnapshotInput {
  incidentId: string;
  /** The camera that sent it: the MQTT topic's; null over HTTP (the seed's form has none). */
  cameraId: string | null;
  bytes: Buffer;
  source: SnapshotSource;
}

export interface SnapshotOutcome {
  /** attached: on a stored incident; held: waiting for its report; duplicate: these bytes were already taken. */
  status: 'attached' | 'held' | 'duplicate';
  incident_id: string;
  filename: string;
  path: string;
  sha256: string;
  bytes: number;
  width: number;
  height: number;
}

export const snapshotFileNames = (incidentId: string) => ({
  full: `${incidentId}_screenshot.jpg`,
  thumb: `${incidentId}_thumb.jpg`,
});

/** Throws a 400 unless `id` can safely name a file: our id pattern, nothing else. */
export function checkIncidentId(id: unknown, path = 'incident_id'): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > 128 || !INCIDENT_ID.test(id) || id === '.' || id === '..') {
    throw new GatewayError(ERRORS.INVALID_SNAPSHOT, [
      { path, message: 'must be 1-128 characters of A-Z a-z 0-9 _ . : - (it names the stored file)' },
    ]);
  }
  return id;
}

/** A small counting semaphore: at most `max` holders, at most `maxWaiting` waiting. */
class Limiter {
  private active = 0;
  private readonly waiters: (() => void)[] = [];
  constructor(
    private readonly max: number,
    private readonly maxWaiting: number,
  ) {}
  get waiting(): number {
    return this.waiters.length;
  }
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) {
      if (this.waiters.length >= this.maxWaiting) throw new GatewayError(ERRORS.OVERLOADED, [], 'Too many snapshots are being processed; retry shortly');
      await new Promise<void>((r) => this.waiters.push(r));
    } else {
      this.active++;
    }
    try {
      return await work();
    } finally {
      const next = this.waiters.shift();
      if (next) next();
      else this.active--;
    }
  }
}

/** Writes and fsyncs `data` next to `file` under a unique temporary name; returns that name. */
async function writeTemp(file: string, data: Buffer): Promise<string> {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return tmp;
}

export class SnapshotService {
  readonly dir: string;
  private readonly dataDir: string;
  private readonly limiter: Limiter;
  private readonly rows: SnapshotRepository;
  /** Incident ids with a held snapshot: the incident.stored listener's fast path. */
  private readonly held = new Set<string>();
  private expiryTimer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private readonly readyListeners = new Set<(incidentId: string) => void>();
  /** Detection runs not finished yet (tests and stop wait for them). */
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = true;
  readonly counters = {
    attached: 0,
    held_total: 0,
    attached_from_hold: 0,
    dropped_expired: 0,
    dropped_full: 0,
    dropped_mismatch: 0,
    duplicates: 0,
    refused: 0,
  };

  constructor(
    private readonly config: GatewayConfig['snapshots'],
    dataDir: string,
    private readonly store: Store,
    private readonly bus: EventBus,
    private readonly detector: SnapshotDetector | null,
    private readonly log: Logger,
  ) {
    this.dataDir = resolve(dataDir);
    this.dir = resolve(config.dir || join(this.dataDir, 'snapshots'));
    this.limiter = new Limiter(config.max_concurrent, config.max_queued);
    this.rows = store.snapshots;
  }

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.held.clear();
    for (const id of this.rows.heldIds()) this.held.add(id);
    this.stopped = false;
    // Reports that committed while we were down (or before a restart) take their held snapshot now.
    for (const id of [...this.held]) if (this.store.getIncident(id)) this.attachHeld(id);
    this.expireHeld();
    this.unsubscribe = this.bus.on('incident.stored', ({ incident }) => {
      if (this.held.has(incident.incident_id)) this.attachHeld(incident.incident_id);
    });
    this.log.info({ dir: this.dir, held: this.held.size }, 'snapshot store ready');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
    await Promise.allSettled([...this.inFlight]);
  }

  /** Called once an incident's snapshot is attached and the image model (if any) has run. */
  onEvidenceReady(listener: (incidentId: string) => void): () => void {
    this.readyListeners.add(listener);
    return () => this.readyListeners.delete(listener);
  }

  /** Resolves when every detection started so far has finished. */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private storedPath(file: string): string {
    const rel = relative(this.dataDir, file);
    return rel.startsWith('..') || isAbsolute(rel) ? file : rel;
  }

  private absolute(stored: string): string {
    return isAbsolute(stored) ? stored : join(this.dataDir, stored);
  }

  /** The file of an incident's snapshot or thumbnail, or null. */
  file(incidentId: string, kind: 'full' | 'thumb'): string | null {
    const row = this.get(incidentId);
    if (!row) return null;
    const file = this.absolute(kind === 'full' ? row.file : row.thumb_file);
    // Belt and braces: whatever the row says, serve nothing outside the snapshot dir.
    return resolve(file).startsWith(this.dir + sep) ? file : null;
  }

  get(incidentId: string): SnapshotRecord | null {
    if (this.stopped) return null;
    return this.rows.get(incidentId);
  }

  detection(incidentId: string): DetectionRecord | null {
    if (this.stopped) return null;
    return this.rows.detection(incidentId);
  }

  isHeld(incidentId: string): boolean {
    return this.held.has(incidentId);
  }

  /** Validates, processes and stores one snapshot; resolves once it is on disk and in the database. */
  async ingest(input: SnapshotInput): Promise<SnapshotOutcome> {
    if (this.stopped) throw new GatewayError(ERRORS.SHUTTING_DOWN);
    const incidentId = checkIncidentId(input.incidentId);
    try {
      return await this.ingestChecked(incidentId, input);
    } catch (err) {
      this.counters.refused++;
      throw err;
    }
  }

  private async ingestChecked(incidentId: string, input: SnapshotInput): Promise<SnapshotOutcome> {
    if (input.bytes.length > this.config.max_bytes) {
      throw tooManyBytes(this.config.max_bytes);
    }
    // Not an image at all is a 415 whatever the incident holds, as documented; only an image can conflict.
    if (!sniffFormat(input.bytes)) {
      const message = input.bytes.length === 0 ? 'is empty' : 'is not a JPEG, PNG or WebP image (judged by its content, not its name)';
      throw new GatewayError(ERRORS.UNSUPPORTED_IMAGE, [{ path: 'file', message }]);
    }
    const sha256 = createHash('sha256').update(input.bytes).digest('hex');
    const same = this.existing(incidentId, sha256, input.cameraId);
    if (same) return same;

    const image = await this.limiter.run(() =>
      processImage(input.bytes, {
        maxBytes: this.config.max_bytes,
        maxPixels: this.config.max_pixels,
        jpegQuality: this.config.jpeg_quality,
        thumbnailPx: this.config.thumbnail_px,
      }),
    );
    if (this.stopped) throw new GatewayError(ERRORS.SHUTTING_DOWN);
    // Another copy may have finished while this one decoded.
    const again = this.existing(incidentId, sha256, input.cameraId);
    if (again) return again;

    const names = snapshotFileNames(incidentId);
    const full = join(this.dir, names.full);
    const thumb = join(this.dir, names.thumb);
    if (!full.startsWith(this.dir + sep) || !thumb.startsWith(this.dir + sep)) {
      throw new GatewayError(ERRORS.INVALID_SNAPSHOT, [{ path: 'incident_id', message: 'does not name a file inside the snapshot directory' }]);
    }
    // Written under temporary names: two different uploads racing for one incident must
    // never overwrite the files of the one that wins.
    const tmpFull = await writeTemp(full, image.jpeg);
    const tmpThumb = await writeTemp(thumb, image.thumbnail);
    // Synchronous from here to the end: the checks, renames and the database write cannot
    // interleave with another upload's or with a report's commit.
    let again2: SnapshotOutcome | null;
    try {
      again2 = this.existing(incidentId, sha256, input.cameraId);
    } catch (err) {
      rmSync(tmpFull, { force: true });
      rmSync(tmpThumb, { force: true });
      throw err;
    }
    if (again2) {
      rmSync(tmpFull, { force: true });
      rmSync(tmpThumb, { force: true });
      return again2;
    }
    renameSync(tmpFull, full);
    renameSync(tmpThumb, thumb);

    const now = new Date().toISOString();
    const record: SnapshotRecord = {
      incident_id: incidentId,
      sha256: image.sha256,
      original_format: image.format,
      original_bytes: image.originalBytes,
      width: image.width,
      height: image.height,
      file: this.storedPath(full),
      thumb_file: this.storedPath(thumb),
      stored_bytes: image.jpeg.length + image.thumbnail.length,
      jpeg_sha256: image.jpegSha256,
      camera_id: input.cameraId,
      source: input.source,
      received_at: now,
      attached_at: now,
    };
    const incident = this.store.getIncident(incidentId);
    if (incident) {
      this.checkCamera(incident.camera_id, input.cameraId);
      this.attach(record, image);
      return this.outcome('attached', record);
    }
    this.hold(record);
    return this.outcome('held', record);
  }

  /** The answer for bytes already taken (same SHA-256), or a 409 for different bytes. */
  private existing(incidentId: string, sha256: string, cameraId: string | null): SnapshotOutcome | null {
    const row = this.get(incidentId);
    let found: SnapshotRecord | null = row;
    if (!found && this.held.has(incidentId)) found = this.rows.held(incidentId);
    if (!found) return null;
    if (found.sha256 === sha256) {
      this.counters.duplicates++;
      return this.outcome('duplicate', found);
    }
    throw new GatewayError(ERRORS.SNAPSHOT_CONFLICT, [
      { path: 'file', message: `incident "${incidentId}" already has a snapshot (sha256 ${found.sha256}); evidence is never overwritten` },
      ...(cameraId && found.camera_id && cameraId !== found.camera_id ? [{ path: 'camera_id', message: `the stored one came from ${found.camera_id}` }] : []),
    ]);
  }

  private checkCamera(incidentCamera: string | null, snapshotCamera: string | null): void {
    if (snapshotCamera && incidentCamera && snapshotCamera !== incidentCamera) {
      throw new GatewayError(ERRORS.SNAPSHOT_CONFLICT, [
        { path: 'camera_id', message: `the incident was reported by ${incidentCamera}, not ${snapshotCamera}` },
      ]);
    }
  }

  private outcome(status: SnapshotOutcome['status'], r: SnapshotRecord): SnapshotOutcome {
    return {
      status,
      incident_id: r.incident_id,
      filename: snapshotFileNames(r.incident_id).full,
      path: r.file,
      sha256: r.sha256,
      bytes: r.original_bytes,
      width: r.width,
      height: r.height,
    };
  }

  private outboxPayload(r: SnapshotRecord): Record<string, unknown> {
    return {
      path: r.file,
      bytes: r.stored_bytes, // the JPEG and its thumbnail, as retention counts them
      sha256: r.sha256,
      jpeg_sha256: r.jpeg_sha256,
      thumb_path: r.thumb_file,
      width: r.width,
      height: r.height,
      original_format: r.original_format,
      original_bytes: r.original_bytes,
      camera_id: r.camera_id,
    };
  }

  /** The snapshots row and its outbox entry, in ONE transaction. */
  private attach(record: SnapshotRecord, image: ProcessedImage | null, fromHold = false): void {
    this.rows.attach(record, this.outboxPayload(record), fromHold);
    if (fromHold) {
      this.held.delete(record.incident_id);
      this.counters.attached_from_hold++;
    }
    this.counters.attached++;
    this.log.info(
      { incident_id: record.incident_id, sha256: record.sha256, width: record.width, height: record.height, held: fromHold },
      'snapshot attached',
    );
    this.bus.emit('snapshot.attached', {
      incident_id: record.incident_id,
      camera_id: record.camera_id,
      sha256: record.sha256,
      width: record.width,
      height: record.height,
    });
    this.afterAttach(record, image);
  }

  /** Off the answer's path: the image model, then the evidence-ready listeners (the AI stage). */
  private afterAttach(record: SnapshotRecord, image: ProcessedImage | null): void {
    const work = (async () => {
      const detector = this.detector;
      if (detector?.ready) {
        let jpeg = image?.jpeg;
        if (!jpeg) {
          jpeg = await readFile(this.absolute(record.file));
        }
        const result = await detector.detect(jpeg, record.width, record.height);
        if (result && !this.stopped) this.storeDetection(record.incident_id, result);
      }
      if (this.stopped) return;
      for (const l of this.readyListeners) {
        try {
          l(record.incident_id);
        } catch (err) {
          this.log.error({ err }, 'evidence-ready listener failed');
        }
      }
    })().catch((err: unknown) => this.log.error({ err, incident_id: record.incident_id }, 'post-snapshot work failed'));
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  private storeDetection(incidentId: string, r: DetectionResult): void {
    const now = new Date().toISOString();
    this.rows.storeDetection(
      incidentId,
      { model: r.model, person_conf: r.person, weapon_conf: r.weapon, boxes: r.detections, inference_ms: r.inferenceMs },
      now,
      { annotation: 'detections', model: r.model, person_conf: r.person, weapon_conf: r.weapon, detections: r.detections, created_at: now },
    );
    this.log.info(
      { incident_id: incidentId, model: r.model, person: round(r.person), weapon: round(r.weapon), boxes: r.detections.length, ms: round(r.totalMs) },
      'snapshot detections stored',
    );
  }

  private hold(record: SnapshotRecord): void {
    const nowMs = Date.now();
    this.rows.hold(record, nowMs);
    this.held.add(record.incident_id);
    this.counters.held_total++;
    this.log.info({ incident_id: record.incident_id, hold_s: this.config.hold_s }, 'snapshot held until its report arrives');
    // Bounded: the oldest held snapshots go first.
    const maxBytes = this.config.hold_max_mb * 1024 * 1024;
    for (;;) {
      const t = this.rows.heldTotals();
      if (t.n <= this.config.hold_max_count && t.bytes <= maxBytes) break;
      const oldest = this.rows.oldestHeld();
      if (!oldest) break;
      this.dropHeld(oldest.incidentId, oldest.record, 'the hold is full (snapshots.hold_max_count / hold_max_mb); oldest dropped');
      this.counters.dropped_full++;
    }
    this.scheduleExpiry();
  }

  private attachHeld(incidentId: string): void {
    const held = this.rows.held(incidentId);
    if (!held) {
      this.held.delete(incidentId);
      return;
    }
    const record = { ...held, attached_at: new Date().toISOString() };
    const incident = this.store.getIncident(incidentId);
    try {
      if (incident) this.checkCamera(incident.camera_id, record.camera_id);
    } catch {
      this.dropHeld(incidentId, held, `the report came from ${incident?.camera_id}, the snapshot from ${record.camera_id}`);
      this.counters.dropped_mismatch++;
      return;
    }
    try {
      this.attach(record, null, true);
    } catch (err) {
      this.log.error({ err, incident_id: incidentId }, 'attaching a held snapshot failed; it stays held');
    }
  }

  private dropHeld(incidentId: string, record: SnapshotRecord, reason: string): void {
    this.rows.unhold(incidentId);
    this.held.delete(incidentId);
    rmSync(this.absolute(record.file), { force: true });
    rmSync(this.absolute(record.thumb_file), { force: true });
    this.log.warn({ incident_id: incidentId, camera_id: record.camera_id, sha256: record.sha256, reason }, 'held snapshot dropped');
  }

  private expireHeld(): void {
    if (this.stopped) return;
    const cutoff = Date.now() - this.config.hold_s * 1000;
    for (const r of this.rows.heldReceivedBy(cutoff)) {
      this.dropHeld(r.incidentId, r.record, `no report for it within snapshots.hold_s (${this.config.hold_s} s)`);
      this.counters.dropped_expired++;
    }
    this.scheduleExpiry();
  }

  private scheduleExpiry(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
    if (this.stopped || this.held.size === 0) return;
    const oldestMs = this.rows.oldestHeldMs();
    if (oldestMs === null) return;
    const due = Math.max(0, oldestMs + this.config.hold_s * 1000 - Date.now());
    this.expiryTimer = setTimeout(() => this.expireHeld(), due + 5);
    this.expiryTimer.unref();
  }

  health(): ComponentHealth {
    return { status: this.stopped ? 'down' : 'up', held: this.held.size, decoding_waiting: this.limiter.waiting, ...this.counters };
  }
}

const round = (v: number) => Math.round(v * 1000) / 1000;

