// Pushover (https://pushover.net/api): emergency priority (2) for CRITICAL with retry and expire,
// high (1) for HIGH. An emergency message's receipt is polled (https://pushover.net/api/receipts);
// its acknowledged_by becomes the incident's acknowledgement, and an acknowledgement from anywhere
// else cancels the receipt so the phones stop ringing.
import type { GatewayConfig, ThreatLevel } from '../../config/schema.js';
import type { Logger } from '../../logger.js';
import type { DeliveryRow } from '../../store/notify.js';
import { httpFailure, networkFailure, type AckSink, type Channel, type Delivery, type SendOutcome } from '../channel.js';
import { fetchWithin, parseJson } from './http.js';

const PRIORITY: Record<ThreatLevel, number> = { CRITICAL: 2, HIGH: 1, MEDIUM: 0, LOW: -1 };

export class PushoverChannel implements Channel {
  readonly kind = 'pushover';
  private timer: NodeJS.Timeout | null = null;
  private acks: AckSink | null = null;
  private readonly stopping = new AbortController();
  private polls = 0;

  constructor(
    private readonly config: GatewayConfig['notify']['pushover'],
    private readonly appToken: string,
    private readonly timeoutMs: number,
    private readonly log: Logger,
    /** A Pushover user key → the contact's name (acknowledged_by is a user key). */
    private readonly userName: (userKey: string) => string | null,
  ) {}

  unusable(): string | null {
    return this.appToken ? null : 'no Pushover application token is configured (notify.pushover.app_token_file)';
  }

  private get base(): string {
    return this.config.url.replace(/\/+$/, '');
  }

  async send(d: Delivery, signal: AbortSignal): Promise<SendOutcome> {
    const m = d.message;
    const priority = PRIORITY[m.level];
    const form = new URLSearchParams({
      token: this.appToken,
      user: d.address,
      title: m.title,
      message: m.text,
      priority: String(priority),
      url: d.ack_url,
      url_title: 'Acknowledge',
      timestamp: String(Math.floor(Date.parse(m.received_at) / 1000)),
      ...(priority === 2 ? { retry: String(this.config.retry_s), expire: String(this.config.expire_s), sound: 'siren' } : {}),
    });
    try {
      const res = await fetchWithin(`${this.base}/1/messages.json`, { method: 'POST', body: form }, this.timeoutMs, signal);
      const json = parseJson(res.text);
      if (res.status < 200 || res.status >= 300 || json?.status !== 1) {
        const errors = Array.isArray(json?.errors) ? (json!.errors as unknown[]).join('; ') : res.text;
        return httpFailure(res.status >= 200 && res.status < 300 ? 502 : res.status, `Pushover: ${errors}`, res.headers);
      }
      const receipt = typeof json.receipt === 'string' ? json.receipt : null;
      return {
        ok: true,
        receipt: {
          summary: `Pushover ${res.status}, request ${String(json.request)}${receipt ? `, emergency receipt ${receipt}` : ''}`,
          data: { status: res.status, request: json.request ?? null, receipt, priority },
          ack_ref: receipt,
        },
      };
    } catch (err) {
      return networkFailure(err);
    }
  }

  start(acks: AckSink): void {
    if (this.unusable()) return;
    this.acks = acks;
    this.arm();
  }

  private arm(): void {
    if (this.stopping.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.poll().finally(() => this.arm());
    }, this.config.receipt_poll_s * 1000);
    this.timer.unref();
  }

  /** One round over the emergency receipts not yet acknowledged or expired. */
  async poll(): Promise<void> {
    const acks = this.acks;
    if (!acks) return;
    this.polls++;
    for (const row of acks.pollable('pushover', 50)) {
      if (this.stopping.signal.aborted) return;
      try {
        const url = `${this.base}/1/receipts/${encodeURIComponent(row.ack_ref!)}.json?token=${encodeURIComponent(this.appToken)}`;
        const res = await fetchWithin(url, { method: 'GET' }, this.timeoutMs, this.stopping.signal);
        const json = parseJson(res.text);
        if (res.status === 404) {
          acks.clearAckRef(row.id);
          continue;
        }
        if (res.status !== 200 || !json || json.status !== 1) continue;
        if (json.acknowledged === 1) {
          const key = typeof json.acknowledged_by === 'string' ? json.acknowledged_by : row.address;
          const device = typeof json.acknowledged_by_device === 'string' ? ` on ${json.acknowledged_by_device}` : '';
          acks.byDelivery(row.id, `${this.userName(key) ?? key}${device}`, 'pushover');
          acks.clearAckRef(row.id);
        } else if (json.expired === 1) {
          acks.clearAckRef(row.id);
        }
      } catch (err) {
        if (!this.stopping.signal.aborted) this.log.warn({ delivery_id: row.id, err: (err as Error).message }, 'polling a Pushover receipt failed');
      }
    }
  }

  async acknowledged(deliveries: DeliveryRow[]): Promise<void> {
    for (const d of deliveries) {
      if (!d.ack_ref) continue;
      try {
        await fetchWithin(
          `${this.base}/1/receipts/${encodeURIComponent(d.ack_ref)}/cancel.json`,
          { method: 'POST', body: new URLSearchParams({ token: this.appToken }) },
          this.timeoutMs,
          this.stopping.signal,
        );
        this.acks?.clearAckRef(d.id);
      } catch (err) {
        this.log.warn({ delivery_id: d.id, err: (err as Error).message }, 'cancelling a Pushover emergency receipt failed');
      }
    }
  }

  health(): Record<string, unknown> {
    return { receipt_polls: this.polls };
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
