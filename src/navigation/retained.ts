// The current safe route from every zone, retained on safesphere/routes/<zone> (QoS 1), so a
// signage or PA device subscribing gets the current route at once and every change after it.
// One publish per topic is in flight at a time and only the latest answer waits behind it, so
// the retained message can never be overtaken by an older one.
import type { Logger } from '../logger.js';
import { TOPICS } from '../transport/mqtt/topics.js';
import type { Navigator } from './navigator.js';

export type RetainedPublish = (packet: { topic: string; payload: Buffer; qos: 1; retain: true }) => Promise<void>;

export class RetainedRoutes {
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly next = new Map<string, string>();
  private off: (() => void) | null = null;
  published = 0;
  failed = 0;

  constructor(
    private readonly navigator: Navigator,
    private readonly publish: RetainedPublish,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.off = this.navigator.onChange((update, text) => this.offer(update.from, text));
  }

  /** Stops taking changes and waits for the publishes in flight (the module's stop is time-bounded). */
  async stop(): Promise<void> {
    this.off?.();
    this.off = null;
    this.next.clear();
    await Promise.all(this.inFlight.values());
  }

  private offer(zone: string, text: string): void {
    if (this.inFlight.has(zone)) {
      this.next.set(zone, text);
      return;
    }
    const sent = this.publish({ topic: TOPICS.routes(zone), payload: Buffer.from(text), qos: 1, retain: true }).then(
      () => {
        this.published++;
      },
      (err: unknown) => {
        this.failed++;
        this.log.warn({ err, zone }, 'publishing a retained route failed');
      },
    );
    this.inFlight.set(
      zone,
      sent.finally(() => {
        this.inFlight.delete(zone);
        const waiting = this.next.get(zone);
        if (waiting !== undefined) {
          this.next.delete(zone);
          this.offer(zone, waiting);
        }
      }),
    );
  }
}
