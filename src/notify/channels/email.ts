// E-mail through nodemailer over SMTP (TLS from the first byte, or STARTTLS required; AUTH when a
// user is set). The receipt is the server's answer to the message (250 …); the Message-ID is
// the delivery's idempotency key, the same on every attempt.
import { readFileSync } from 'node:fs';
import nodemailer, { type Transporter } from 'nodemailer';
import type { GatewayConfig } from '../../config/schema.js';
import { escapeHtml, type Channel, type Delivery, type SendOutcome } from '../channel.js';

const NETWORK_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

export class EmailChannel implements Channel {
  readonly kind = 'email';
  private transport: Transporter | null = null;

  constructor(
    private readonly config: GatewayConfig['notify']['email'],
    private readonly password: string,
    private readonly siteId: string,
    private readonly timeoutMs: number,
  ) {}

  unusable(): string | null {
    return this.config.host ? null : 'no SMTP server is configured (notify.email.host)';
  }

  private transporter(): Transporter {
    if (this.transport) return this.transport;
    const c = this.config;
    // Pooled: a burst of alarms reuses open SMTP sessions instead of a TLS handshake and AUTH per message.
    this.transport = nodemailer.createTransport({
      pool: true,
      maxConnections: 4,
      host: c.host,
      port: c.port,
      secure: c.tls === 'tls',
      requireTLS: c.tls === 'starttls',
      ignoreTLS: c.tls === 'none',
      ...(c.username ? { auth: { user: c.username, pass: this.password } } : {}),
      tls: { rejectUnauthorized: c.reject_unauthorized, ...(c.ca_file ? { ca: readFileSync(c.ca_file) } : {}) },
      connectionTimeout: this.timeoutMs,
      greetingTimeout: this.timeoutMs,
      socketTimeout: this.timeoutMs,
      name: `${this.siteId}.safesphere-edge.invalid`,
    });
    return this.transport;
  }

  async send(d: Delivery, signal: AbortSignal): Promise<SendOutcome> {
    const m = d.message;
    const lines = [
      `${m.level} threat at ${m.camera_id ?? 'an unknown camera'}${m.zone ? ` (zone ${m.zone})` : ''}, site ${m.site_id}.`,
      '',
      `Level:      ${m.level} (score ${m.score})`,
      `Camera:     ${m.camera_id ?? '—'}`,
      `Zone:       ${m.zone ?? '—'}`,
      `Time:       ${m.time} (received ${m.received_at})`,
      `Behaviour:  ${m.behaviour ?? '—'}`,
      `Weapons:    ${m.weapons.length ? m.weapons.join(', ') : 'none'}`,
      `People:     ${m.people_count ?? '—'}`,
      `Incident:   ${m.incident_id}`,
      '',
      `Acknowledge (stops the escalation): ${d.ack_url}`,
      `Dashboard: ${m.dashboard_url}`,
    ];
    const row = (k: string, v: string) => `<tr><th align="left">${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`;
    const html = [
      `<h2 style="color:${m.level === 'CRITICAL' || m.level === 'HIGH' ? '#c0392b' : '#333'}">${escapeHtml(m.title)}</h2>`,
      '<table cellpadding="4">',
      row('Level', `${m.level} (score ${m.score})`),
      row('Camera', m.camera_id ?? '—'),
      row('Zone', m.zone ?? '—'),
      row('Time', `${m.time} (received ${m.received_at})`),
      row('Behaviour', m.behaviour ?? '—'),
      row('Weapons', m.weapons.length ? m.weapons.join(', ') : 'none'),
      row('People', String(m.people_count ?? '—')),
      row('Incident', m.incident_id),
      '</table>',
      m.thumbnail ? '<p><img src="cid:snapshot@safesphere-edge" alt="snapshot"></p>' : '',
      `<p><a href="${escapeHtml(d.ack_url)}" style="font-size:1.2em;font-weight:bold">Acknowledge</a> (stops the escalation) · <a href="${escapeHtml(m.dashboard_url)}">Dashboard</a></p>`,
    ].join('\n');
    const from = this.config.from || `safesphere@${this.siteId}.invalid`;
    const transport = this.transporter();
    const sending = transport.sendMail({
      from,
      to: d.address,
      subject: m.title,
      text: lines.join('\n'),
      html,
      messageId: `<${d.idempotency_key.replace(/[^A-Za-z0-9._-]/g, '_')}@safesphere-edge>`,
      priority: m.level === 'CRITICAL' || m.level === 'HIGH' ? 'high' : 'normal',
      headers: {
        'X-SafeSphere-Incident': m.incident_id,
        'X-SafeSphere-Level': m.level,
        'X-SafeSphere-Delivery': String(d.id),
        'Auto-Submitted': 'auto-generated',
      },
      ...(m.thumbnail ? { attachments: [{ filename: `${m.incident_id}.jpg`, path: m.thumbnail, cid: 'snapshot@safesphere-edge', contentType: 'image/jpeg' }] } : {}),
    });
    const aborted = new Promise<never>((_, reject) => {
      if (signal.aborted) reject(new Error('aborted'));
      signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
    });
    try {
      const info = (await Promise.race([sending, aborted])) as { messageId: string; response: string; accepted: unknown[]; rejected: unknown[] };
      if (info.rejected.length > 0 && info.accepted.length === 0) return { ok: false, reason: `SMTP refused the recipient: ${info.response}`, transient: false };
      return {
        ok: true,
        receipt: { summary: `SMTP ${info.response}`, data: { smtp_response: info.response, message_id: info.messageId, accepted: info.accepted.map(String) } },
      };
    } catch (err) {
      sending.catch(() => {});
      const e = err as { code?: string; responseCode?: number; response?: string; message?: string };
      if (e.code === 'EAUTH') return { ok: false, reason: `SMTP authentication failed: ${e.response ?? e.message}`, transient: false };
      if (typeof e.responseCode === 'number') {
        return { ok: false, reason: `SMTP ${e.response ?? e.responseCode}`, transient: e.responseCode >= 400 && e.responseCode < 500 };
      }
      if (e.code && NETWORK_CODES.has(e.code)) return { ok: false, reason: `SMTP server ${this.config.host}:${this.config.port} unreachable: ${e.message}`, transient: true };
      return { ok: false, reason: `SMTP: ${e.message ?? String(err)}`, transient: e.message === 'aborted' || e.code === undefined };
    }
  }

  async stop(): Promise<void> {
    this.transport?.close();
    this.transport = null;
  }
}
