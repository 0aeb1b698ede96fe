// Acknowledge tokens: `<delivery id>.<expiry, unix s, base 36>.<HMAC-SHA256, 16 bytes, base64url>`.
// Short enough for a Telegram callback_data (64 bytes); single use is the store's (ack_tokens_used).
import { createHmac, timingSafeEqual } from 'node:crypto';

export type TokenCheck = { ok: true; deliveryId: number; expiresAtS: number } | { ok: false; code: 'malformed' | 'forged' | 'expired' };

export class AckTokens {
  constructor(private readonly key: Buffer) {}

  private mac(body: string): Buffer {
    return createHmac('sha256', this.key).update(`safesphere-ack:${body}`).digest().subarray(0, 16);
  }

  sign(deliveryId: number, expiresAtS: number): string {
    const body = `${deliveryId}.${Math.floor(expiresAtS).toString(36)}`;
    return `${body}.${this.mac(body).toString('base64url')}`;
  }

  verify(token: string, nowMs: number): TokenCheck {
    const m = /^([1-9][0-9]{0,15})\.([0-9a-z]{1,10})\.([A-Za-z0-9_-]{22})$/.exec(token);
    if (!m) return { ok: false, code: 'malformed' };
    const given = Buffer.from(m[3]!, 'base64url');
    const want = this.mac(`${m[1]}.${m[2]}`);
    if (given.length !== want.length || !timingSafeEqual(given, want)) return { ok: false, code: 'forged' };
    const expiresAtS = parseInt(m[2]!, 36);
    if (expiresAtS * 1000 <= nowMs) return { ok: false, code: 'expired' };
    return { ok: true, deliveryId: Number(m[1]), expiresAtS };
  }
}
