// Actions that reach people: contacts, escalation until someone acknowledges, and the channels
// (e-mail, ntfy, Pushover, Telegram, webhooks) with delivery receipts. Before automation, which
// leaves the action types this module carries to it; after mqtt and operations (zones).
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Module, ModuleContext } from '../module.js';
import { readSecret } from '../security/secrets.js';
import type { Channel } from './channel.js';
import { EmailChannel } from './channels/email.js';
import { NtfyChannel } from './channels/ntfy.js';
import { PushoverChannel } from './channels/pushover.js';
import { TelegramChannel } from './channels/telegram.js';
import { WebhookChannel } from './channels/webhook.js';
import { notifyRoutes } from './routes.js';
import { NotifyService } from './service.js';
import { AckTokens } from './tokens.js';

declare module '../module.js' {
  interface Exports {
    notify: NotifyService;
  }
}

/** The acknowledge-link key: configured, or generated once into <data_dir>/notify-ack-secret (0600). */
function ackKey(ctx: ModuleContext): Buffer {
  const n = ctx.config.notify;
  const configured = readSecret(n.ack_secret, n.ack_secret_file, 'notify.ack_secret_file');
  if (configured) return Buffer.from(configured, 'utf8');
  const file = join(resolve(ctx.config.data_dir), 'notify-ack-secret');
  if (!existsSync(file)) writeFileSync(file, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return Buffer.from(readFileSync(file, 'utf8').trim(), 'utf8');
}

export function create(ctx: ModuleContext): Module {
  const { config } = ctx;
  const log = ctx.logger('notify');
  const operations = ctx.find('operations');
  const snapshots = ctx.find('snapshots');
  const station = ctx.find('arc');
  let tokens: AckTokens | null = null;
  const publicUrl = () => {
    if (config.notify.public_url) return config.notify.public_url.replace(/\/+$/, '');
    const host = config.http.host === '0.0.0.0' || config.http.host === '::' ? 'localhost' : config.http.host;
    return `http://${host}:${ctx.find('http')?.port ?? config.http.port}`;
  };
  const service = new NotifyService({
    config,
    store: ctx.store,
    bus: ctx.bus,
    log,
    tokens: () => {
      if (!tokens) throw new Error('notify is not started');
      return tokens;
    },
    publicUrl,
    zoneOf: (camera) => operations?.queries.zoneOf(camera) ?? null,
    thumbnailOf: (id) => snapshots?.file(id, 'thumb') ?? null,
  });
  ctx.provide('notify', service);
  const pushoverNames = new Map(config.contacts.flatMap((c) => c.channels.flatMap((ch) => (ch.pushover ? [[ch.pushover, c.name] as const] : []))));
  return {
    name: 'notify',
    async start() {
      tokens = new AckTokens(ackKey(ctx));
      const n = config.notify;
      const t = n.send_timeout_ms;
      // Secrets are read here, through the secret readers, and never logged.
      const channels: Channel[] = [
        new EmailChannel(n.email, readSecret(n.email.password, n.email.password_file, 'notify.email.password_file'), config.site_id, t),
        new NtfyChannel(n.ntfy, readSecret(n.ntfy.token, n.ntfy.token_file, 'notify.ntfy.token_file'), t),
        new PushoverChannel(n.pushover, readSecret(n.pushover.app_token, n.pushover.app_token_file, 'notify.pushover.app_token_file'), t, log.child({ channel: 'pushover' }), (key) => pushoverNames.get(key) ?? null),
        new TelegramChannel(n.telegram, readSecret(n.telegram.bot_token, n.telegram.bot_token_file, 'notify.telegram.bot_token_file'), t, log.child({ channel: 'telegram' }), {
          get: () => ctx.store.notify.position('telegram_offset'),
          set: (offset) => ctx.store.notify.setPosition('telegram_offset', offset),
        }),
        new WebhookChannel(readSecret(n.webhook.secret, n.webhook.secret_file, 'notify.webhook.secret_file'), t),
        // The monitoring station (src/arc/), when configured: it carries arc.action_types.
        ...(station ? [station.channel] : []),
      ];
      await service.start(channels);
      for (const line of service.undeliverable()) log.warn(line);
    },
    stop: () => service.stop(),
    health: () => ({ notify: service.health() }),
    routes: (app) => app.register(notifyRoutes(service)),
    banner: (at) => {
      const undeliverable = service.undeliverable();
      return [
        `Who gets told   : ${config.contacts.length} contact(s); acknowledge links ${publicUrl()}/notify/ack/<token>   GET ${at.http}/notify/status`,
        ...(undeliverable.length ? undeliverable.map((l) => `  ! ${l}`) : ['  every notification action type of the policy reaches someone']),
      ];
    },
  };
}
