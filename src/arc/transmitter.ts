// The transmitter: every message goes over the active path (primary or backup), is retried
// there, then goes over the other path; the active path is the primary whenever its last
// exchange was answered, so the gateway returns to it as soon as it answers again (both paths
// are supervised, each with its own NULL link test). A NAK carries the receiver's clock: the
// gateway takes it and sends the message again with the same sequence number. A DUH (the
// receiver does not take this message) is final.
import type { GatewayConfig } from '../config/schema.js';
import type { ComponentHealth } from '../health.js';
import type { Logger } from '../logger.js';
import { TEST_REPORT, dataBlock } from './codes.js';
import { buildMessage, parseResponse, unframe, type Addressing, type MessageParts } from './frame.js';
import { exchange, type PathAddress } from './link.js';

type ArcConfig = GatewayConfig['arc'];
type PathName = PathAddress['name'];

export interface SeqSource {
  /** The next sequence number (0001..9999, wrapping), kept across restarts. */
  next(): number;
}

export interface TransmitterDeps {
  config: ArcConfig;
  key: Buffer | null;
  log: Logger;
  seq: SeqSource;
  /** The local clock; the receiver's clock (from a NAK) is kept as an offset to it. */
  clock?: () => number;
  /** Each exchange, for metrics. */
  observe?: (e: { path: PathName; kind: string; outcome: 'ack' | 'nak' | 'duh' | 'error'; ms: number }) => void;
}

export interface OutgoingMessage {
  kind: 'event' | 'supervision' | 'test';
  id: MessageParts['id'];
  data: string;
  extended: string[];
}

export type TransmitOutcome =
  | { ok: true; path: PathName; host: string; at: string; seq: number; tries: number; rtt_ms: number; receiver_time: string | null }
  | { ok: false; reason: string; transient: boolean; tries: number };

interface PathState {
  address: PathAddress;
  /** null: not tried yet. */
  up: boolean | null;
  failures: number;
  lastAckAt: string | null;
  lastSupervisionAt: string | null;
  lastError: string | null;
}

type TryResult = { ok: true; rtt: number; receiverMs: number | null } | { ok: false; reason: string; final: boolean };
/** One exchange: a NAK carries the correction to the clock offset (null: the NAK had no time). */
type OnceResult = TryResult | { ok: false; reason: string; final: false; resync: number | null };

export class ArcTransmitter {
  private readonly paths: PathState[];
  private offsetMs = 0;
  private timers: NodeJS.Timeout[] = [];
  private readonly inFlight = new Set<AbortController>();
  private running = false;
  readonly stats = { sent: 0, acked: 0, naks: 0, duh: 0, errors: 0, failovers: 0, clock_resyncs: 0, supervisions: 0, test_reports: 0 };

  constructor(private readonly d: TransmitterDeps) {
    const c = d.config;
    this.paths = [{ name: 'primary' as const, ...c.primary }, ...(c.backup.host ? [{ name: 'backup' as const, ...c.backup }] : [])].map((address) => ({
      address,
      up: null,
      failures: 0,
      lastAckAt: null,
      lastSupervisionAt: null,
      lastError: null,
    }));
  }

  private get to(): Addressing {
    return { receiver: this.d.config.receiver, line: this.d.config.line, account: this.d.config.account };
  }

  private now(): number {
    return (this.d.clock ?? Date.now)() + this.offsetMs;
  }

  /** The path messages go to first: the primary unless only the backup answered last. */
  get active(): PathState {
    const [primary, backup] = this.paths;
    return primary!.up === false && backup?.up === true ? backup : primary!;
  }

  start(): void {
    this.running = true;
    const sup = this.d.config.supervision_s;
    if (sup > 0) this.every(sup * 1000, () => this.supervise(), true);
    const test = this.d.config.test_report_h;
    if (test > 0) this.every(test * 3600_000, () => this.testReport(), false);
  }

  /** Stops the timers and abandons exchanges in flight (each is bounded by ack_timeout_ms anyway). */
  stop(): void {
    this.running = false;
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    for (const c of this.inFlight) c.abort();
    this.inFlight.clear();
  }

  private every(ms: number, fn: () => Promise<unknown>, now: boolean): void {
    const slot = this.timers.length;
    const schedule = (delay: number) => {
      const t = setTimeout(run, delay);
      t.unref?.();
      this.timers[slot] = t;
    };
    const run = () => {
      if (!this.running) return;
      void fn()
        .catch((err: unknown) => this.d.log.warn({ err }, 'arc: periodic message failed'))
        .finally(() => {
          if (this.running) schedule(ms);
        });
    };
    schedule(now ? 0 : ms);
  }

  /** A link test on every path, so the ARC supervises each (and the gateway learns which answer). */
  async supervise(): Promise<void> {
    const test = this.d.config.supervision_message === 'test_report';
    await Promise.all(
      this.paths.map(async (p) => {
        const msg: OutgoingMessage = test
          ? { kind: 'supervision', id: this.d.config.format, data: dataBlock(this.d.config.format, this.d.config.account, { ...TEST_REPORT, restore: false, zone: 0, partition: this.d.config.partition }), extended: [] }
          : { kind: 'supervision', id: 'NULL', data: '', extended: [] };
        const r = await this.tryPath(p, msg, this.d.seq.next(), null);
        this.stats.supervisions++;
        if (r.ok) p.lastSupervisionAt = new Date().toISOString();
      }),
    );
  }

  /** The periodic test report (SIA RP / Contact ID 602), as panels send. */
  async testReport(): Promise<TransmitOutcome> {
    this.stats.test_reports++;
    const c = this.d.config;
    return this.send({ kind: 'test', id: c.format, data: dataBlock(c.format, c.account, { ...TEST_REPORT, restore: false, zone: 0, partition: c.partition }), extended: [] }, this.d.seq.next());
  }

  /** One message, with its sequence number (a retransmission keeps it): the active path, then the other. */
  async send(msg: OutgoingMessage, seq: number, signal?: AbortSignal): Promise<TransmitOutcome> {
    const first = this.active;
    const order = [first, ...this.paths.filter((p) => p !== first)];
    const reasons: string[] = [];
    let tries = 0;
    for (const p of order) {
      for (let i = 0; i < this.d.config.attempts_per_path; i++) {
        if (signal?.aborted) return { ok: false, reason: 'aborted', transient: true, tries };
        tries++;
        const r = await this.tryPath(p, msg, seq, signal ?? null);
        if (r.ok) {
          if (p !== first) {
            this.stats.failovers++;
            this.d.log.warn({ path: p.address.name, seq }, `arc: message acknowledged on the ${p.address.name} path after the ${first.address.name} failed`);
          }
          return {
            ok: true,
            path: p.address.name,
            host: `${p.address.host}:${p.address.port}`,
            at: p.lastAckAt!,
            seq,
            tries,
            rtt_ms: r.rtt,
            receiver_time: r.receiverMs === null ? null : new Date(r.receiverMs).toISOString(),
          };
        }
        reasons.push(`${p.address.name}: ${r.reason}`);
        if (r.final) return { ok: false, reason: reasons.join('; '), transient: false, tries };
      }
    }
    return { ok: false, reason: `no path acknowledged (${reasons.join('; ')})`, transient: true, tries };
  }

  /** One exchange on one path; a NAK with the receiver's time is answered by one resend at that time. */
  private async tryPath(p: PathState, msg: OutgoingMessage, seq: number, signal: AbortSignal | null): Promise<TryResult> {
    let result = await this.once(p, msg, seq, signal);
    if (!result.ok && 'resync' in result) {
      // A NAK: the receiver's clock is taken when it differs, and the message goes once more.
      if (result.resync !== null) {
        this.offsetMs += result.resync;
        this.stats.clock_resyncs++;
      }
      this.d.log.warn({ path: p.address.name, offset_ms: this.offsetMs, resynced: result.resync !== null }, 'arc: NAK; sending again');
      result = await this.once(p, msg, seq, signal);
    }
    if (result.ok) {
      p.up = true;
      p.failures = 0;
      p.lastAckAt = new Date().toISOString();
      p.lastError = null;
      return result;
    }
    const wasActive = this.active === p;
    p.up = false;
    p.failures++;
    p.lastError = result.reason;
    if (wasActive && this.active !== p) this.d.log.warn({ from: p.address.name, to: this.active.address.name, reason: result.reason }, 'arc: switching path');
    return { ok: false, reason: result.reason, final: result.final };
  }

  private async once(p: PathState, msg: OutgoingMessage, seq: number, signal: AbortSignal | null): Promise<OnceResult> {
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    this.inFlight.add(controller);
    const started = performance.now();
    const observe = (outcome: 'ack' | 'nak' | 'duh' | 'error') => this.d.observe?.({ path: p.address.name, kind: msg.kind, outcome, ms: performance.now() - started });
    try {
      const sentAt = this.now();
      const frameOut = buildMessage({ id: msg.id, seq, data: msg.data, extended: msg.extended, timestampMs: sentAt }, this.to, this.d.key);
      this.stats.sent++;
      const answer = await exchange(this.d.config.transport, p.address, frameOut, this.d.config.ack_timeout_ms, controller.signal);
      const r = parseResponse(unframe(answer), this.d.key);
      const rtt = Math.round(performance.now() - started);
      if (r.kind === 'ACK') {
        if (r.seq !== seq) throw new Error(`ACK for sequence ${r.seq}, not ${seq}`);
        if (r.account !== null && r.account.toUpperCase() !== this.d.config.account.toUpperCase()) throw new Error(`ACK for account ${r.account}`);
        this.stats.acked++;
        observe('ack');
        return { ok: true, rtt, receiverMs: r.timestampMs };
      }
      if (r.kind === 'DUH') {
        this.stats.duh++;
        observe('duh');
        return { ok: false, reason: 'DUH: the receiver does not take this message', final: true };
      }
      this.stats.naks++;
      observe('nak');
      // The correction to the offset: the receiver's time (whole seconds, so +500 ms) minus the
      // time this message carried; within the timestamps' resolution it is no evidence of skew.
      const delta = r.timestampMs === null ? null : r.timestampMs + 500 - sentAt;
      const resync = delta === null || Math.abs(delta) < 1500 ? null : delta;
      return { ok: false, reason: `NAK${r.timestampMs === null ? '' : ` (receiver time ${new Date(r.timestampMs).toISOString()})`}`, final: false, resync };
    } catch (err) {
      this.stats.errors++;
      observe('error');
      return { ok: false, reason: (err as Error).message, final: false };
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.inFlight.delete(controller);
    }
  }

  health(): ComponentHealth {
    const primary = this.paths[0];
    const up = this.paths.filter((p) => p.up === true);
    const status = this.paths.every((p) => p.up === null) ? 'degraded' : primary!.up === true ? 'up' : up.length > 0 ? 'degraded' : 'down';
    const lastAck = this.paths.map((p) => p.lastAckAt).filter((x): x is string => x !== null).sort().pop() ?? null;
    const lastSup = this.paths.map((p) => p.lastSupervisionAt).filter((x): x is string => x !== null).sort().pop() ?? null;
    const problems = this.paths.filter((p) => p.up !== true).map((p) => `${p.address.name} ${p.address.host}:${p.address.port}: ${p.up === null ? 'not answered yet' : p.lastError}`);
    return {
      status,
      ...(problems.length ? { problems } : {}),
      connected_path: up.length ? this.active.address.name : null,
      last_ack: lastAck,
      last_supervision: lastSup,
      consecutive_failures: Object.fromEntries(this.paths.map((p) => [p.address.name, p.failures])),
      paths: Object.fromEntries(this.paths.map((p) => [p.address.name, { address: `${p.address.host}:${p.address.port}`, up: p.up, last_ack: p.lastAckAt, last_supervision: p.lastSupervisionAt, last_error: p.lastError }])),
      clock_offset_ms: this.offsetMs,
      encrypted: this.d.key !== null,
      format: this.d.config.format,
      transport: this.d.config.transport,
      ...this.stats,
    };
  }
}
