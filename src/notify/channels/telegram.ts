// Telegram bot (https://core.telegram.org/bots/api): sendMessage with an inline "Acknowledge"
// button whose callback_data carries the acknowledge token; callbacks are read by long polling
// getUpdates, so the site needs no public address, and answered with answerCallbackQuery. The
// bot token is part of every URL: no URL is ever logged.
import type { GatewayConfig } from '../../config/schema.js';
import type { Logger } from '../../logger.js';
import { escapeHtml, httpFailure, networkFailure, type AckSink, type Channel, type Delivery, type SendOutcome } from '../channel.js';
import { fetchWithin, parseJson } from './http.js';

interface Update {
  update_id: number;
  callback_query?: { id: string; from?: { id: number; username?: string; first_name?: string }; data?: string };
}

export class TelegramChannel implements Channel {
  readonly kind = 'telegram';
  private acks: AckSink | null = null;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | null = null;
  private polls = 0;
  private lastError: string | null = null;

  constructor(
    private readonly config: GatewayConfig['notify']['telegram'],
    private readonly botToken: string,
    private readonly timeoutMs: number,
    private readonly log: Logger,
    private readonly offsets: { get(): number | null; set(offset: number): void },
  ) {}

  unusable(): string | null {
    return this.botToken ? null : 'no Telegram bot token is configured (notify.telegram.bot_token_file)';
  }

  private method(name: string): string {
    return `${this.config.url.replace(/\/+$/, '')}/bot${this.botToken}/${name}`;
  }

  private async call(name: string, body: unknown, timeoutMs: number, signal: AbortSignal) {
    return fetchWithin(this.method(name), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }, timeoutMs, signal);
  }

  async send(d: Delivery, signal: AbortSignal): Promise<SendOutcome> {
    const m = d.message;
    const text = [
      `<b>${escapeHtml(m.title)}</b>`,
      `Camera: ${escapeHtml(m.camera_id ?? '—')}${m.zone ? ` · zone ${escapeHtml(m.zone)}` : ''}`,
      `Time: ${escapeHtml(m.time)}`,
      `Behaviour: ${escapeHtml(m.behaviour ?? '—')}`,
      `Weapons: ${escapeHtml(m.weapons.length ? m.weapons.join(', ') : 'none')}`,
      `Incident: <code>${escapeHtml(m.incident_id)}</code>`,
    ].join('\n');
    try {
      const res = await this.call(
        'sendMessage',
        {
          chat_id: d.address,
          text,
          parse_mode: 'HTML',
          reply_markup: { inline_keyboard: [[{ text: 'Acknowledge', callback_data: `ack:${d.ack_token}` }]] },
        },
        this.timeoutMs,
        signal,
      );
      const json = parseJson(res.text);
      if (res.status !== 200 || json?.ok !== true) {
        const retryAfter = (json?.parameters as { retry_after?: number } | undefined)?.retry_after;
        const failure = httpFailure(res.status, `Telegram: ${String(json?.description ?? res.text)}`, res.headers);
        return retryAfter ? { ...failure, retry_after_ms: retryAfter * 1000 } : failure;
      }
      const result = json.result as { message_id?: number; chat?: { id?: number } } | undefined;
      return {
        ok: true,
        receipt: { summary: `Telegram message ${result?.message_id ?? '?'} in chat ${result?.chat?.id ?? d.address}`, data: { message_id: result?.message_id ?? null, chat_id: result?.chat?.id ?? null } },
      };
    } catch (err) {
      return networkFailure(err);
    }
  }

  start(acks: AckSink): void {
    if (this.unusable()) return;
    this.acks = acks;
    this.loop = this.pollLoop();
  }

  private async pollLoop(): Promise<void> {
    let backoff = 1000;
    while (!this.stopping.signal.aborted) {
      try {
        await this.pollOnce();
        backoff = 1000;
      } catch (err) {
        if (this.stopping.signal.aborted) return;
        this.lastError = (err as Error).message;
        this.log.warn({ err: this.lastError }, 'Telegram getUpdates failed; retrying');
        await new Promise<void>((r) => setTimeout(r, backoff).unref());
        backoff = Math.min(backoff * 2, 60_000);
      }
    }
  }

  /** One getUpdates round: acknowledge what the buttons say, answer each callback. */
  async pollOnce(): Promise<void> {
    const acks = this.acks!;
    const offset = this.offsets.get();
    const res = await this.call(
      'getUpdates',
      { ...(offset !== null ? { offset } : {}), timeout: this.config.poll_timeout_s, allowed_updates: ['callback_query'] },
      this.config.poll_timeout_s * 1000 + this.timeoutMs,
      this.stopping.signal,
    );
    this.polls++;
    const json = parseJson(res.text);
    if (res.status !== 200 || json?.ok !== true || !Array.isArray(json.result)) throw new Error(`getUpdates answered HTTP ${res.status}: ${String(json?.description ?? '')}`);
    this.lastError = null;
    for (const u of json.result as Update[]) {
      this.offsets.set(u.update_id + 1);
      const q = u.callback_query;
      if (!q?.data?.startsWith('ack:')) continue;
      const who = q.from?.username ? `@${q.from.username}` : (q.from?.first_name ?? null);
      const outcome = acks.byToken(q.data.slice(4), 'telegram', who ?? undefined);
      await this.call('answerCallbackQuery', { callback_query_id: q.id, text: outcome.message.slice(0, 200), show_alert: !outcome.ok }, this.timeoutMs, this.stopping.signal).catch(
        (err: Error) => this.log.warn({ err: err.message }, 'answerCallbackQuery failed'),
      );
    }
  }

  health(): Record<string, unknown> {
    return { update_polls: this.polls, last_error: this.lastError };
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop?.catch(() => {});
  }
}
