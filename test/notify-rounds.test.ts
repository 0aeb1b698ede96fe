// The notify path's cost per report: the incidents of one group commit start their escalations
// in one transaction, not one each. A transaction per incident meant an fsync per CRITICAL report
// on the ingest thread, and cut durable ingest to a third (issue 12's measured regression).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { getJson, postJson, seedReport, startGateway, type TestGateway } from './helpers.js';
import { startNtfy, startWebhook } from './notify-servers.js';

const REPORTS = 60;

describe('escalations start in rounds', () => {
  const stops: (() => Promise<void>)[] = [];
  afterEach(async () => {
    while (stops.length) await stops.pop()!();
  });

  /** Counts the outermost notify transactions, and which of them started an escalation. */
  function watchTransactions(gw: TestGateway) {
    const repo = gw.gateway.store.notify;
    const atomically = repo.atomically.bind(repo);
    const begin = repo.begin.bind(repo);
    let depth = 0;
    let current = 0;
    let outer = 0;
    const beganIn = new Set<number>();
    let beganOutside = 0;
    vi.spyOn(repo, 'atomically').mockImplementation(<T>(fn: () => T): T => {
      if (depth === 0) current = ++outer;
      depth++;
      try {
        return atomically(fn);
      } finally {
        depth--;
      }
    });
    vi.spyOn(repo, 'begin').mockImplementation((...args: Parameters<typeof repo.begin>) => {
      if (depth === 0) beganOutside++;
      else beganIn.add(current);
      return begin(...args);
    });
    return { transactionsThatBegan: () => beganIn.size, beganOutside: () => beganOutside, transactions: () => outer };
  }

  for (const site of ['nobody configured (undeliverable)', 'a contact with a webhook'] as const) {
    it(`${REPORTS} reports posted at once: far fewer start-up transactions than incidents, with ${site}`, async () => {
      // A wide commit window makes the 60 posts share a few group commits, as a burst does under load.
      const overrides: Record<string, unknown> = { notify: {}, ingest: { commit_window_ms: 50 } };
      if (site === 'a contact with a webhook') {
        const webhook = await startWebhook('secret');
        stops.push(webhook.close);
        overrides.contacts = [{ id: 'desk', name: 'Front desk', channels: [{ webhook: `${webhook.url}/desk` }] }];
        overrides.escalation = { CRITICAL: [{ at_s: 0, notify: ['desk'] }] };
      }
      const gw = await startGateway(overrides);
      stops.push(gw.stop);
      const watch = watchTransactions(gw);
      const ids = Array.from({ length: REPORTS }, (_, i) => `INC_ROUND_${i}`);
      const posted = await Promise.all(ids.map((id) => postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: id }))));
      expect(posted.map((r) => r.status)).toEqual(ids.map(() => 200));
      const expected = site === 'a contact with a webhook' ? 'dispatched' : 'undeliverable';
      await expect
        .poll(async () => {
          const states = await Promise.all(ids.map(async (id) => ((await getJson(`${gw.httpUrl}/incidents/${id}`)).body as { actions: { action_type: string; status: string }[] }).actions.find((a) => a.action_type === 'police_dispatch')?.status));
          return states.filter((s) => s === expected || (expected === 'dispatched' && s === 'delivered')).length;
        }, { timeout: 20_000, interval: 100 })
        .toBe(REPORTS);
      expect(watch.beganOutside()).toBe(0);
      // At most one start-up transaction per group commit; one per incident would be 60.
      const metrics = await fetch(`${gw.httpUrl}/metrics`).then((r) => r.text());
      const commits = Number(/^safesphere_commit_batch_size_count (\d+)/m.exec(metrics)![1]);
      expect(commits).toBeLessThan(REPORTS / 2);
      expect(watch.transactionsThatBegan()).toBeGreaterThan(0);
      expect(watch.transactionsThatBegan()).toBeLessThanOrEqual(commits);
    }, 40_000);
  }

  it('one report, two deliveries: at most three notify transactions (start and claim, then the outcomes)', async () => {
    const webhook = await startWebhook('secret');
    const ntfy = await startNtfy();
    stops.push(webhook.close, ntfy.close);
    const gw = await startGateway({
      notify: { ntfy: { url: ntfy.url } },
      contacts: [{ id: 'desk', name: 'Front desk', channels: [{ webhook: `${webhook.url}/desk` }, { ntfy: 'site-1-desk' }] }],
      escalation: { CRITICAL: [{ at_s: 0, notify: ['desk'] }] },
    });
    stops.push(gw.stop);
    const watch = watchTransactions(gw);
    const N = 40;
    // One at a time, each in its own round: the worst case for sharing transactions.
    for (let i = 0; i < N; i++) expect((await postJson(`${gw.httpUrl}/threats/report`, seedReport({ incident_id: `INC_TX_${i}` }))).status).toBe(200);
    await expect.poll(() => webhook.received.length + ntfy.published.length, { timeout: 20_000, interval: 50 }).toBe(2 * N);
    await expect
      .poll(async () => {
        const bodies = await Promise.all(Array.from({ length: N }, async (_, i) => (await getJson(`${gw.httpUrl}/incidents/INC_TX_${i}`)).body as { deliveries: { state: string }[] }));
        return bodies.flatMap((b) => b.deliveries).filter((d) => d.state === 'delivered').length;
      }, { timeout: 20_000, interval: 100 })
      .toBe(2 * N);
    // A transaction each for the start, the claim and every outcome round was 6 per report.
    expect(watch.transactions()).toBeLessThanOrEqual(3 * N);
  }, 60_000);
});
