// What a receiver can do to the transmitter: NAK (a clock out of the receiver's window), DUH,
// garbage, silence, refusal. Each ends in an ACK after a resync, or a classified failure within
// the timeouts: never a hang. Time is fake where it matters (the per-message timeout).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { dataBlock } from '../src/arc/codes.js';
import { frame, nextSeq } from '../src/arc/frame.js';
import { ArcTransmitter, type TransmitOutcome } from '../src/arc/transmitter.js';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/logger.js';
import { deadPort, startScripted, startSiaReceiver } from './arc-receiver.js';

const KEY = '00112233445566778899AABBCCDDEEFF';
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(closers.splice(0).map((c) => c()));
});

function tx(arc: Record<string, unknown>, key: string | null, clock?: () => number) {
  let seq = 0;
  const config = loadConfig({ overrides: { arc: { account: '12AB', primary: { host: '127.0.0.1', port: 1 }, supervision_s: 0, test_report_h: 0, ...arc } } }).arc;
  const t = new ArcTransmitter({ config, key: key ? Buffer.from(key, 'hex') : null, log: createLogger('silent'), seq: { next: () => (seq = nextSeq(seq)) }, ...(clock ? { clock } : {}) });
  closers.push(async () => t.stop());
  return t;
}
const alarm = { kind: 'event' as const, id: 'SIA-DCS' as const, data: dataBlock('SIA-DCS', '12AB', { sia: 'PA', cid: 120, restore: false, zone: 1, partition: 1 }), extended: [] };

describe('ARC faults', () => {
  it('NAK: the gateway takes the receiver\'s clock and sends again with the same sequence number', async () => {
    // iobroker.sia NAKs a message whose timestamp is more than 20 s from its clock; the gateway's is an hour slow.
    const r = await startSiaReceiver({ account: '12AB', key: KEY, timeoutS: 20 });
    closers.push(() => r.close());
    const t = tx({ primary: { host: '127.0.0.1', port: r.port } }, KEY, () => Date.now() - 3600_000);
    const out = await t.send(alarm, 77);
    expect(out).toMatchObject({ ok: true, path: 'primary', seq: 77, tries: 1 });
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatch(/to old|too old/i);
    expect(r.received.map((m) => m.seq)).toEqual(['0077']);
    const h = t.health();
    expect(h).toMatchObject({ naks: 1, clock_resyncs: 1, acked: 1 });
    expect(Math.abs((h.clock_offset_ms as number) - 3600_000)).toBeLessThan(2000);
    // The next message carries the receiver's time: no NAK.
    expect(await t.send(alarm, 78)).toMatchObject({ ok: true, tries: 1 });
    expect(t.health()).toMatchObject({ naks: 1 });
  });

  it('DUH: the receiver does not take the message; final, not retried on any path', async () => {
    const s = await startScripted(() => frame('"DUH"0005R0L0#12AB[]'));
    closers.push(() => s.close());
    const backup = await startScripted(() => null);
    closers.push(() => backup.close());
    const t = tx({ primary: { host: '127.0.0.1', port: s.port }, backup: { host: '127.0.0.1', port: backup.port } }, null);
    const out = await t.send(alarm, 5);
    expect(out).toMatchObject({ ok: false, transient: false, tries: 1 });
    expect((out as { reason: string }).reason).toMatch(/DUH/);
    expect(backup.frames).toHaveLength(0);
  });

  it('an ACK for another sequence number is not an ACK', async () => {
    const s = await startScripted(() => frame('"ACK"0999R0L0#12AB[]'));
    closers.push(() => s.close());
    const out = await tx({ primary: { host: '127.0.0.1', port: s.port }, attempts_per_path: 1 }, null).send(alarm, 5);
    expect(out).toMatchObject({ ok: false, transient: true });
    expect((out as { reason: string }).reason).toMatch(/ACK for sequence 999/);
  });

  it('garbage: a framed answer with a bad CRC, and an answer that is no frame at all, fail the attempt', async () => {
    const badCrc = await startScripted(() => Buffer.from('\n0000000F"ACK"0005R0L0[]\r'));
    closers.push(() => badCrc.close());
    const http = await startScripted(() => Buffer.from('\nHTTP/1.1 400 Bad Request\r\n\r\n'));
    closers.push(() => http.close());
    const out = await tx({ primary: { host: '127.0.0.1', port: badCrc.port }, backup: { host: '127.0.0.1', port: http.port } }, null).send(alarm, 5);
    expect(out).toMatchObject({ ok: false, transient: true, tries: 4 });
    expect((out as { reason: string }).reason).toMatch(/primary: CRC 0000 does not match/);
    expect((out as { reason: string }).reason).toMatch(/backup: not a DC-09 frame/);
  });

  it('a receiver that holds the socket open and says nothing: each attempt ends at ack_timeout_ms, never a hang', async () => {
    const silent = await startScripted(() => null);
    closers.push(() => silent.close());
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const t = tx({ primary: { host: '127.0.0.1', port: silent.port }, ack_timeout_ms: 5000, attempts_per_path: 2 }, null);
    let out: TransmitOutcome | null = null;
    const sending = t.send(alarm, 9).then((o) => (out = o));
    // Two attempts of 5 s each: nothing before the first timeout, the failure after the second.
    await vi.waitFor(() => expect(silent.frames.length).toBe(1), { timeout: 5000, interval: 5 });
    await vi.advanceTimersByTimeAsync(4999);
    expect(out).toBeNull();
    await vi.advanceTimersByTimeAsync(1);
    await vi.waitFor(() => expect(silent.frames.length).toBe(2), { timeout: 5000, interval: 5 });
    await vi.advanceTimersByTimeAsync(5000);
    await sending;
    expect(out).toMatchObject({ ok: false, transient: true, tries: 2 });
    expect((out as unknown as { reason: string }).reason).toMatch(/no answer within 5000 ms/);
    expect(t.health()).toMatchObject({ status: 'down', consecutive_failures: { primary: 2 } });
  });

  it('both paths refused: every attempt fails at once, health is down and says why', async () => {
    const t = tx({ primary: { host: '127.0.0.1', port: await deadPort() }, backup: { host: '127.0.0.1', port: await deadPort() }, attempts_per_path: 3 }, KEY);
    const out = await t.send(alarm, 3);
    expect(out).toMatchObject({ ok: false, transient: true, tries: 6 });
    expect((out as { reason: string }).reason).toMatch(/ECONNREFUSED/);
    const h = t.health();
    expect(h).toMatchObject({ status: 'down', connected_path: null, consecutive_failures: { primary: 3, backup: 3 } });
    expect(h.problems).toHaveLength(2);
  });
});
