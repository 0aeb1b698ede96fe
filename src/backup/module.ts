// Scheduled backups (backup.interval_h into backup.dir, the newest backup.keep kept), each
// logged and the last one shown in /health. The copy runs in a worker thread on its own
// read-only connection (src/store/backup.ts), so ingest keeps committing meanwhile.
import { readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ComponentHealth } from '../health.js';
import type { Module, ModuleContext } from '../module.js';
import { createBackup, type BackupResult } from './backup.js';

export const BACKUP_PREFIX = 'safesphere-backup-';

/** `safesphere-backup-<site>-<UTC time>.tar.gz`: names sort by time. */
export const backupName = (site: string, at = new Date()): string =>
  `${BACKUP_PREFIX}${site}-${at.toISOString().replace(/[:.]/g, '-')}.tar.gz`;

export class BackupScheduler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = true;
  last: { at: string; file: string; bytes: number; ms: number; incidents: number } | null = null;
  lastError: { at: string; message: string } | null = null;
  nextAt: string | null = null;
  count = 0;

  constructor(private readonly ctx: ModuleContext) {}

  get dir(): string {
    const { config } = this.ctx;
    return config.backup.dir ? resolve(config.backup.dir) : join(resolve(config.data_dir), 'backups');
  }

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    const ms = this.ctx.config.backup.interval_h * 3_600_000;
    this.nextAt = new Date(Date.now() + ms).toISOString();
    this.timer = setTimeout(() => {
      this.running = this.runOnce().then(() => undefined).finally(() => {
        this.running = null;
        this.schedule();
      });
    }, ms);
    this.timer.unref();
  }

  /** One backup now, then the prune; failures are logged and shown, never thrown. */
  async runOnce(): Promise<BackupResult | null> {
    const log = this.ctx.logger('backup');
    const { config } = this.ctx;
    try {
      const result = await createBackup(config, join(this.dir, backupName(config.site_id)), this.ctx.version, { inGateway: true });
      this.count++;
      this.last = {
        at: result.manifest.created_at,
        file: result.file,
        bytes: result.bytes,
        ms: Math.round(result.ms),
        incidents: result.manifest.db.incidents,
      };
      this.lastError = null;
      log.info({ file: result.file, bytes: result.bytes, ms: Math.round(result.ms), incidents: result.manifest.db.incidents, missing: result.manifest.missing.length }, 'backup written');
      this.prune();
      return result;
    } catch (err) {
      this.lastError = { at: new Date().toISOString(), message: (err as Error).message };
      log.error({ err, dir: this.dir }, 'scheduled backup failed');
      return null;
    }
  }

  private prune(): void {
    const keep = this.ctx.config.backup.keep;
    const mine = readdirSync(this.dir)
      .filter((n) => n.startsWith(`${BACKUP_PREFIX}${this.ctx.config.site_id}-`) && n.endsWith('.tar.gz'))
      .sort();
    for (const old of mine.slice(0, Math.max(0, mine.length - keep))) {
      rmSync(join(this.dir, old), { force: true });
      this.ctx.logger('backup').info({ file: join(this.dir, old) }, 'old backup deleted');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.nextAt = null;
    await this.running;
  }

  health(): ComponentHealth {
    return {
      status: this.lastError ? 'degraded' : 'up',
      dir: this.dir,
      interval_h: this.ctx.config.backup.interval_h,
      keep: this.ctx.config.backup.keep,
      backups_written: this.count,
      last: this.last,
      last_error: this.lastError,
      next_at: this.nextAt,
    };
  }
}

declare module '../module.js' {
  interface Exports {
    backups: BackupScheduler;
  }
}

export function create(ctx: ModuleContext): Module | null {
  if (ctx.config.backup.interval_h <= 0) return null;
  const scheduler = new BackupScheduler(ctx);
  ctx.provide('backups', scheduler);
  return {
    name: 'backup',
    start: async () => scheduler.start(),
    stop: () => scheduler.stop(),
    health: () => ({ backup: scheduler.health() }),
    banner: () => [`Backups         : every ${ctx.config.backup.interval_h} h into ${scheduler.dir} (newest ${ctx.config.backup.keep} kept)`],
  };
}
