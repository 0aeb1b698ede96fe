// Damaged storage is noticed. A durable high-water mark of the committed sequence counters is
// kept outside the WAL (<data_dir>/commit-mark, mark.ts), written and fsynced at most every
// integrity.mark_interval_ms while commits happen, and at shutdown. At start, a database
// holding fewer commits than the mark says (a damaged or truncated WAL that SQLite silently
// dropped; quick_check cannot see it) is logged loudly with how many acknowledged reports are
// missing, recorded, and shown as `integrity: degraded` in /health until an operator
// acknowledges it (POST /integrity/acknowledge). Either way the counters are raised past the
// mark, so no seq is ever given out twice (a cloud's pull cursor would skip the second one).
import type { FastifyInstance } from 'fastify';
import type { Module, ModuleContext } from '../module.js';
import type { SeqCounters } from '../store/high-water.js';
import { MarkFile, type Mark } from './mark.js';

declare module '../module.js' {
  interface Exports {
    /** The high-water mark, for tests and benches: resolves once the mark covers every commit so far. */
    integrity: { flush(): Promise<Mark | null> };
  }
}

const above = (a: SeqCounters, b: SeqCounters | null) =>
  !b || a.incident_seq > b.incident_seq || a.outbox_seq > b.outbox_seq || a.feed_seq > b.feed_seq;

export function create(ctx: ModuleContext): Module {
  const { store, config } = ctx;
  const log = ctx.logger('integrity');
  const markFile = new MarkFile(config.data_dir);
  let timer: NodeJS.Timeout | null = null;
  let writing: Promise<unknown> = Promise.resolve();
  let writeError: string | null = null;
  let unreadableAtStart = false;

  /** Writes the mark if the committed counters moved past it; one write at a time. */
  const update = (): Promise<unknown> => {
    writing = writing.then(async () => {
      if (!store.isOpen) return;
      const counters = store.highWater.counters();
      if (!above(counters, markFile.current)) return;
      try {
        await markFile.write(counters);
        if (writeError) log.info({ file: markFile.file }, 'commit mark written again');
        writeError = null;
      } catch (err) {
        if (!writeError) log.warn({ err, file: markFile.file }, 'could not write the commit mark; damage to the WAL after this point may go unnoticed');
        writeError = (err as Error).message;
      }
    });
    return writing;
  };

  ctx.provide('integrity', { flush: async () => (await update(), markFile.current) });

  const check = async () => {
    const { mark, damaged } = await markFile.open();
    const found = store.highWater.counters();
    if (damaged) {
      unreadableAtStart = true;
      log.warn({ file: markFile.file }, 'the commit mark is unreadable (both slots damaged); this start could not be checked, a new mark starts from the database');
    }
    if (!mark) {
      log.info({ file: markFile.file, ...found }, 'commit mark started');
    } else {
      const missing = {
        reports: Math.max(0, mark.incident_seq - found.incident_seq),
        outbox: Math.max(0, mark.outbox_seq - found.outbox_seq),
        feed: Math.max(0, mark.feed_seq - found.feed_seq),
      };
      // The outbox and feed counters only go back with lost commits (retention's deletes keep
      // them); a lower incident seq alone is retention having deleted the newest incidents.
      if (missing.outbox > 0 || missing.feed > 0) {
        store.highWater.record({
          detected_at: new Date().toISOString(),
          missing_reports: missing.reports,
          missing_outbox: missing.outbox,
          mark_incident_seq: mark.incident_seq,
          found_incident_seq: found.incident_seq,
          mark_outbox_seq: mark.outbox_seq,
          found_outbox_seq: found.outbox_seq,
          mark_feed_seq: mark.feed_seq,
          found_feed_seq: found.feed_seq,
        });
        log.fatal(
          { file: markFile.file, mark, found, missing_reports: missing.reports, missing_outbox: missing.outbox, missing_feed: missing.feed },
          `STORAGE DAMAGE: the database holds fewer commits than were acknowledged: ${missing.reports} acknowledged report(s) ` +
            `(seq ${found.incident_seq + 1}..${mark.incident_seq}) and ${missing.outbox} outbox entr(ies) are missing, most likely a ` +
            'damaged or truncated WAL. The gateway runs on; /health stays degraded until an operator acknowledges this ' +
            '(POST /integrity/acknowledge). New seqs continue above the mark.',
        );
      }
      if (above(mark, found)) {
        store.highWater.raise(mark);
        if (missing.outbox === 0 && missing.feed === 0) log.info({ mark, found }, 'incident seq floor raised to the commit mark (the newest incidents were deleted)');
      }
    }
    await update();
  };

  const routes = async (app: FastifyInstance) => {
    app.get(
      '/integrity',
      { config: { role: 'operator' }, schema: { summary: 'The commit high-water mark and missing-commit events (damaged storage)' } },
      async () => ({
        file: markFile.file,
        mark: markFile.current,
        mark_write_error: writeError,
        open: store.highWater.openEvents().length,
        events: store.highWater.recentEvents(),
      }),
    );
    app.post(
      '/integrity/acknowledge',
      {
        config: { role: 'admin' },
        schema: {
          summary: 'Acknowledge missing-commit events: /health stops reporting integrity as degraded',
          body: { type: 'object', properties: { note: { type: 'string', maxLength: 1024 } }, additionalProperties: false },
        },
      },
      async (request) => {
        const note = ((request.body ?? {}) as { note?: string }).note ?? null;
        const p = request.principal;
        const by = p?.kind === 'token' ? p.name : p?.kind === 'trusted' ? `${p.via}:${p.key}` : 'auth-off';
        const events = store.highWater.openEvents();
        const acknowledged = store.highWater.acknowledge(by, note);
        log.warn({ by, note, events: events.map((e) => e.id), acknowledged }, 'missing-commit events acknowledged by an operator');
        return { acknowledged, events: events.map((e) => e.id) };
      },
    );
  };

  return {
    name: 'integrity',
    start: async () => {
      await check();
      timer = setInterval(() => void update(), config.integrity.mark_interval_ms);
      timer.unref();
    },
    stop: async () => {
      if (timer) clearInterval(timer);
      timer = null;
      await update();
      await markFile.close();
    },
    health: () => {
      const open = store.isOpen ? store.highWater.openEvents() : [];
      const missing = open.reduce((n, e) => n + e.missing_reports, 0);
      return {
        integrity: {
          status: open.length > 0 || writeError ? 'degraded' : 'up',
          mark: markFile.current,
          ...(open.length > 0
            ? {
                error: `${missing} acknowledged report(s) missing from storage (${open.length} event(s)); see GET /integrity, then POST /integrity/acknowledge`,
                open_events: open.map((e) => e.id),
              }
            : {}),
          ...(writeError ? { mark_write_error: writeError } : {}),
          ...(unreadableAtStart ? { warning: 'the commit mark was unreadable at start; that start could not be checked' } : {}),
        },
      };
    },
    routes,
  };
}
