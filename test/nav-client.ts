// A /ws/navigation client for the tests: collects every message and waits on a predicate
// (events, never sleeps).
import WebSocket from 'ws';

export type Msg = Record<string, any>;

export class NavClient {
  readonly messages: Msg[] = [];
  private waiters: (() => void)[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (raw) => {
      this.messages.push(JSON.parse(String(raw)) as Msg);
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  }

  static async open(url: string): Promise<NavClient> {
    const ws = new WebSocket(url);
    const c = new NavClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    return c;
  }

  routes(): Msg[] {
    return this.messages.filter((m) => m.type === 'route');
  }

  /** Resolves with the first message after index `after` matching `pred`. */
  async next(pred: (m: Msg) => boolean, after = 0, timeoutMs = 10_000): Promise<Msg> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.slice(after).find(pred);
      if (found) return found;
      const left = end - Date.now();
      if (left <= 0) throw new Error(`no matching message; last: ${JSON.stringify(this.messages.slice(-3))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 500));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  send(m: unknown): void {
    this.ws.send(JSON.stringify(m));
  }
}
