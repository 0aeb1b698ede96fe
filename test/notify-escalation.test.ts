// Escalation end to end with fake timers: a real store, the real pipeline, the real webhook
// channel to a local receiver. No acknowledgement → step 2 at its time; acknowledged after
// step 1 → no step 2; a restart between steps → step 2 once, at its time, and nothing delivered
// is sent again.
import { rmSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { EventBus } from '../src/events/bus.js';
import { createLogger } from '../src/logger.js';
import { WebhookChannel } from '../src/notify/channels/webhook.js';
import { NotifyService } from '../src/notify/service.js';
import { AckTokens } from '../src/notify/tokens.js';
import { IngestPipeline } from '../src/pipeline/ingest.js';
import { ActionPolicy } from '../src/policy/policy.js';
import { ReportedLevelScorer } from '../src/scoring/scorer.js';
import { Store } from '../src/store/store.js';
import { ReportValidator } from '../src/validate/report.js';
import { seedReport, tempDir } from './helpers.js';
import { startWebhook } from './notify-servers.js';

describe('escalation until someone acknowledges', () => {
  let dir: string;
  let webhook: Awaited<ReturnType<typeof startWebhook>>;
  const running: { store: Store; notify: NotifyService; pipeline: IngestPipeline; validator: ReportValidator }[] = [];
  const key = new AckTokens(Buffer.from('test-ack-key'));

  const configFor = (url: string) =>
    loadConfig({
      overrides: {
        contacts: [
          { id: 'desk', name: 'Front desk', channels: [{ webhook: `${url}/desk` }] },
          { id: 'owner', name: 'Owner', channels: [{ webhook: `${url}/owner` }] },
        ],
        escalation: { CRITICAL: [{ at_s: 0, notify: ['desk'] }, { at_s: 60, notify: ['owner'] }] },
        notify: { webhook: { secret: 'k' } },
      },
    });

  async function boot() {
    const config = configFor(webhook.url);
    const log = createLogger('silent');
    const store = new Store(dir, log);
    await store.start();
    const bus = new EventBus(log);
    const pipeline = new IngestPipeline({ ...config.ingest, commit_window_ms: 0 }, store, new ReportedLevelScorer(), new ActionPolicy(config.policy), bus, log);
    await pipeline.start();
    const notify = new NotifyService({ config, store, bus, log, tokens: () => key, publicUrl: () => 'http://gw.invalid' });
    await notify.start([new WebhookChannel('k', 2000)]);
    const handle = { store, notify, pipeline, validator: new ReportValidator(config.report) };
    running.push(handle);
    return handle;
  }

  async function shutdown(h: Awaited<ReturnType<typeof boot>>) {
    await h.notify.stop();
    await h.pipeline.stop();
    await h.store.stop();
    running.splice(running.indexOf(h), 1);
  }

  const to = (path: string) => webhook.received.filter((r) => r.path === path);

  beforeEach(async () => {
    dir = tempDir();
    webhook = await startWebhook('k');
    // Timers and Date are fake; real I/O (the webhook's sockets) still runs, as the clock does.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], shouldAdvanceTime: true });
  });
  afterEach(async () => {
    vi.useRealTimers();
    for (const h of [...running]) await shutdown(h);
    await webhook.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function report(h: Awaited<ReturnType<typeof boot>>, id: string) {
    await h.pipeline.submit(h.validator.validate(seedReport({ incident_id: id }), 'http', null));
  }

  it('without an acknowledgement, step 2 runs at its time, once', async () => {
    const h = await boot();
    await report(h, 'INC_ESC_1');
    await vi.waitFor(() => expect(to('/desk')).toHaveLength(1), { timeout: 5000 });
    await vi.advanceTimersByTimeAsync(55_000);
    expect(to('/owner')).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(6_000);
    await vi.waitFor(() => expect(to('/owner')).toHaveLength(1), { timeout: 5000 });
    await vi.advanceTimersByTimeAsync(600_000);
    expect(to('/owner')).toHaveLength(1);
    expect(to('/desk')).toHaveLength(1);
    expect(webhook.received.every((r) => r.signatureOk)).toBe(true);
    expect(h.notify.escalationOf('INC_ESC_1')).toMatchObject({ state: 'exhausted', next_step: null });
    expect(h.store.actionsFor('INC_ESC_1').find((a) => a.action_type === 'police_dispatch')!.status).toBe('delivered');
  });

  it('acknowledged after step 1 (through its link): no step 2, and the ledger says who and how', async () => {
    const h = await boot();
    await report(h, 'INC_ESC_2');
    await vi.waitFor(() => expect(to('/desk')).toHaveLength(1), { timeout: 5000 });
    const ackUrl = to('/desk')[0]!.body.ack_url as string;
    await vi.advanceTimersByTimeAsync(20_000);
    const outcome = h.notify.byToken(ackUrl.split('/').pop()!);
    expect(outcome).toMatchObject({ ok: true, first: true, by: 'Front desk', via: 'webhook' });
    await vi.advanceTimersByTimeAsync(600_000);
    expect(to('/owner')).toHaveLength(0);
    expect(h.notify.escalationOf('INC_ESC_2')).toMatchObject({ state: 'acknowledged' });
    const actions = h.store.actionsFor('INC_ESC_2');
    expect(actions.find((a) => a.action_type === 'police_dispatch')).toMatchObject({ status: 'acknowledged', result: expect.stringMatching(/^acknowledged by Front desk via webhook at /) });
    expect(actions.find((a) => a.action_type === 'deliver_webhook')).toMatchObject({ status: 'acknowledged' });
    expect(h.store.operations.status('INC_ESC_2')).toMatchObject({ acknowledged_by: 'Front desk', acknowledged_via: 'webhook' });
    // Used twice: refused.
    expect(h.notify.byToken(ackUrl.split('/').pop()!)).toMatchObject({ ok: false, code: 'used', status: 409 });
  });

  it('a restart between the steps: step 2 once, at its time; step 1 is not sent again', async () => {
    const first = await boot();
    await report(first, 'INC_ESC_3');
    await vi.waitFor(() => expect(to('/desk')).toHaveLength(1), { timeout: 5000 });
    await vi.advanceTimersByTimeAsync(20_000);
    await shutdown(first);
    await vi.advanceTimersByTimeAsync(10_000); // down for 10 s
    const second = await boot();
    await vi.advanceTimersByTimeAsync(25_000); // 55 s after the report
    expect(to('/owner')).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(6_000);
    await vi.waitFor(() => expect(to('/owner')).toHaveLength(1), { timeout: 5000 });
    await vi.advanceTimersByTimeAsync(600_000);
    expect(to('/owner')).toHaveLength(1);
    expect(to('/desk')).toHaveLength(1);
    expect(second.notify.deliveriesOf('INC_ESC_3').map((d) => [d.contact_id, d.state, d.attempts])).toEqual([
      ['desk', 'delivered', 1],
      ['owner', 'delivered', 1],
    ]);
  });

  it('a restart while step 2 is overdue runs it at once', async () => {
    const first = await boot();
    await report(first, 'INC_ESC_4');
    await vi.waitFor(() => expect(to('/desk')).toHaveLength(1), { timeout: 5000 });
    // Delivered means its receipt is recorded. A stop between the receiver taking it and the
    // gateway reading the answer leaves it 'sending', and it is sent again (same idempotency key).
    await vi.waitFor(() => expect(first.store.notify.deliveriesFor('INC_ESC_4').map((d) => d.state)).toEqual(['delivered']), { timeout: 5000 });
    await shutdown(first);
    await vi.advanceTimersByTimeAsync(120_000); // down past step 2's time
    await boot();
    await vi.waitFor(() => expect(to('/owner')).toHaveLength(1), { timeout: 5000 });
    expect(to('/desk')).toHaveLength(1);
  });
});
