// ntfy (self-hostable push), published as JSON (https://docs.ntfy.sh/publish/#publish-as-json):
// priority from the level, tags, a click URL and an "Acknowledge" http action that POSTs to the
// gateway's acknowledge link. The receipt is ntfy's message id.
import type { GatewayConfig, ThreatLevel } from '../../config/schema.js';
import { httpFailure, networkFailure, type Channel, type Delivery, type SendOutcome } from '../channel.js';
import { fetchWithin, parseJson } from './http.js';

const PRIORITY: Record<ThreatLevel, number> = { CRITICAL: 5, HIGH: 4, MEDIUM: 3, LOW: 2 };
const TAG: Record<ThreatLevel, string> = { CRITICAL: 'rotating_light', HIGH: 'warning', MEDIUM: 'eyes', LOW: 'information_source' };

export class NtfyChannel implements Channel {
  readonly kind = 'ntfy';

  constructor(
    private readonly config: GatewayConfig['notify']['ntfy'],
    private readonly token: string,
    private readonly timeoutMs: number,
  ) {}

  unusable(): string | null {
    return this.config.url ? null : 'no ntfy server is configured (notify.ntfy.url)';
  }

  async send(d: Delivery, signal: AbortSignal): Promise<SendOutcome> {
    const m = d.message;
    const body = {
      topic: d.address,
      title: m.title,
      message: m.text,
      priority: PRIORITY[m.level],
      tags: [TAG[m.level], m.level.toLowerCase(), ...(m.weapons.length ? ['weapon'] : [])],
      click: m.dashboard_url,
      actions: [{ action: 'http', label: 'Acknowledge', url: d.ack_url, method: 'POST', clear: true }],
    };
    try {
      const res = await fetchWithin(
        this.config.url.replace(/\/+$/, '') + '/',
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
          body: JSON.stringify(body),
        },
        this.timeoutMs,
        signal,
      );
      if (res.status < 200 || res.status >= 300) return httpFailure(res.status, res.text, res.headers);
      const json = parseJson(res.text);
      if (!json || typeof json.id !== 'string') return { ok: false, reason: `ntfy answered ${res.status} without a message id`, transient: true };
      return { ok: true, receipt: { summary: `ntfy ${res.status}, message ${json.id}`, data: { status: res.status, id: json.id, time: json.time ?? null, topic: json.topic ?? d.address } } };
    } catch (err) {
      return networkFailure(err);
    }
  }
}
