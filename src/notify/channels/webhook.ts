// Webhooks: a JSON body, an Idempotency-Key header (the receiver collapses a resend), and
// X-SafeSphere-Signature: sha256=<hex HMAC-SHA256 of the exact body> when a secret is set.
import { createHmac } from 'node:crypto';
import { httpFailure, networkFailure, type Channel, type Delivery, type SendOutcome } from '../channel.js';
import { fetchWithin } from './http.js';

export class WebhookChannel implements Channel {
  readonly kind = 'webhook';

  constructor(
    private readonly secret: string,
    private readonly timeoutMs: number,
  ) {}

  unusable(): string | null {
    return null;
  }

  async send(d: Delivery, signal: AbortSignal): Promise<SendOutcome> {
    const body = JSON.stringify({
      event: 'incident.notification',
      site_id: d.message.site_id,
      delivery: { id: d.id, idempotency_key: d.idempotency_key, step: d.step, attempt: d.attempt, contact_id: d.contact.id },
      incident: d.message,
      ack_url: d.ack_url,
      sent_at: new Date().toISOString(),
    });
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'idempotency-key': d.idempotency_key,
      'x-safesphere-delivery': String(d.id),
      'user-agent': 'safesphere-edge',
    };
    if (this.secret) headers['x-safesphere-signature'] = `sha256=${createHmac('sha256', this.secret).update(body).digest('hex')}`;
    try {
      const res = await fetchWithin(d.address, { method: 'POST', headers, body }, this.timeoutMs, signal);
      if (res.status < 200 || res.status >= 300) return httpFailure(res.status, res.text, res.headers);
      return { ok: true, receipt: { summary: `webhook HTTP ${res.status}`, data: { status: res.status, body: res.text.slice(0, 256) } } };
    } catch (err) {
      return networkFailure(err);
    }
  }
}
