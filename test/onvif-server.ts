// A local ONVIF device for tests: the SOAP endpoints the onvif package calls on connect and for a
// pull-point subscription (ONVIF Core and Event Service specs, www.onvif.org/specs/core/ONVIF-Core-Specification.pdf):
// GetSystemDateAndTime (unauthenticated, as the spec allows), GetServices, GetCapabilities,
// CreatePullPointSubscription, PullMessages, Renew and Unsubscribe. Requests after the first are
// authenticated with WS-Security UsernameToken PasswordDigest = Base64(SHA-1(nonce + created +
// password)); a wrong one gets HTTP 400 with the spec's ter:NotAuthorized fault. PullMessages is
// answered when a notification is queued or after `holdMs` (a real camera holds it up to the
// requested PT1M).
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const NS = [
  'xmlns:s="http://www.w3.org/2003/05/soap-envelope"',
  'xmlns:wsa="http://www.w3.org/2005/08/addressing"',
  'xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2"',
  'xmlns:tt="http://www.onvif.org/ver10/schema"',
  'xmlns:tds="http://www.onvif.org/ver10/device/wsdl"',
  'xmlns:tev="http://www.onvif.org/ver10/events/wsdl"',
  'xmlns:tns1="http://www.onvif.org/ver10/topics"',
  'xmlns:tnsaxis="http://www.axis.com/2009/event/topics"',
  'xmlns:ter="http://www.onvif.org/ver10/error"',
].join(' ');

const envelope = (body: string) => `<?xml version="1.0" encoding="UTF-8"?>\n<s:Envelope ${NS}><s:Header/><s:Body>${body}</s:Body></s:Envelope>`;

const fault = (subcode: string, reason: string) =>
  envelope(
    `<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>${subcode}</s:Value></s:Subcode></s:Code>` +
      `<s:Reason><s:Text xml:lang="en">${reason}</s:Text></s:Reason></s:Fault>`,
  );

/** A NotificationMessage as Hikvision and Axis cameras send them (topic, Source and Data SimpleItems). */
export function notification(topic: string, source: Record<string, string>, data: Record<string, string>, utc: string, operation = 'Changed'): string {
  const items = (o: Record<string, string>) => Object.entries(o).map(([n, v]) => `<tt:SimpleItem Name="${n}" Value="${v}"/>`).join('');
  return (
    `<wsnt:NotificationMessage><wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">${topic}</wsnt:Topic>` +
    `<wsnt:Message><tt:Message UtcTime="${utc}" PropertyOperation="${operation}">` +
    `<tt:Source>${items(source)}</tt:Source><tt:Data>${items(data)}</tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage>`
  );
}

export class OnvifTestCamera {
  private server: Server | null = null;
  port = 0;
  /** Requests per SOAP action, and those refused for their credentials. */
  readonly calls: Record<string, number> = {};
  authFailures = 0;
  private queue: string[] = [];
  /** Whole responses to send instead of the next PullMessagesResponses (hostile XML, huge bodies). */
  readonly rawPulls: string[] = [];
  private waiting: (() => void)[] = [];
  private subscriptions = 0;
  private readonly sockets = new Set<import('node:net').Socket>();

  constructor(
    readonly username: string,
    readonly password: string,
    readonly options: { holdMs?: number; terminationS?: number } = {},
  ) {}

  get address(): string {
    return `http://127.0.0.1:${this.port}/onvif/device_service`;
  }

  async start(port = 0): Promise<void> {
    const server = createServer((req, res) => void this.onRequest(req, res));
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Goes away: the listener closes and open connections are cut (a camera losing power). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    for (const wake of this.waiting.splice(0)) wake();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Queues notifications for the next PullMessages. */
  push(...messages: string[]): void {
    this.queue.push(...messages);
    for (const wake of this.waiting.splice(0)) wake();
  }

  private count(action: string): void {
    this.calls[action] = (this.calls[action] ?? 0) + 1;
  }

  private authorized(body: string): boolean {
    const get = (tag: string) => new RegExp(`<(?:\\w+:)?${tag}[^>]*>([^<]*)</(?:\\w+:)?${tag}>`).exec(body)?.[1];
    const user = get('Username');
    const digest = get('Password');
    const nonce = get('Nonce');
    const created = get('Created');
    if (!user || !digest || !nonce || !created) return false;
    const expected = createHash('sha1')
      .update(Buffer.concat([Buffer.from(nonce, 'base64'), Buffer.from(created, 'ascii'), Buffer.from(this.password, 'ascii')]))
      .digest('base64');
    return user === this.username && digest === expected;
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const action = /<(?:\w+:)?Body[^>]*>\s*<(?:\w+:)?(\w+)/.exec(body)?.[1] ?? 'unknown';
    this.count(action);
    const send = (xml: string, status = 200) => {
      if (res.destroyed) return;
      res.writeHead(status, { 'content-type': 'application/soap+xml; charset=utf-8' });
      res.end(xml);
    };
    const base = `http://127.0.0.1:${this.port}`;
    if (action === 'GetSystemDateAndTime') {
      const d = new Date();
      return send(
        envelope(
          `<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>` +
            `<tt:UTCDateTime><tt:Time><tt:Hour>${d.getUTCHours()}</tt:Hour><tt:Minute>${d.getUTCMinutes()}</tt:Minute><tt:Second>${d.getUTCSeconds()}</tt:Second></tt:Time>` +
            `<tt:Date><tt:Year>${d.getUTCFullYear()}</tt:Year><tt:Month>${d.getUTCMonth() + 1}</tt:Month><tt:Day>${d.getUTCDate()}</tt:Day></tt:Date></tt:UTCDateTime>` +
            `</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>`,
        ),
      );
    }
    if (!this.authorized(body)) {
      this.authFailures++;
      return send(fault('ter:NotAuthorized', 'Sender not Authorized'), 400);
    }
    const now = () => new Date();
    const termination = () => new Date(Date.now() + (this.options.terminationS ?? 120) * 1000).toISOString();
    switch (action) {
      case 'GetServices':
        return send(
          envelope(
            `<tds:GetServicesResponse>` +
              `<tds:Service><tds:Namespace>http://www.onvif.org/ver10/device/wsdl</tds:Namespace><tds:XAddr>${base}/onvif/device_service</tds:XAddr><tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>` +
              `<tds:Service><tds:Namespace>http://www.onvif.org/ver10/events/wsdl</tds:Namespace><tds:XAddr>${base}/onvif/event_service</tds:XAddr><tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>` +
              `</tds:GetServicesResponse>`,
          ),
        );
      case 'GetCapabilities':
        return send(envelope(`<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Events><tt:XAddr>${base}/onvif/event_service</tt:XAddr></tt:Events></tds:Capabilities></tds:GetCapabilitiesResponse>`));
      case 'CreatePullPointSubscription': {
        const n = ++this.subscriptions;
        return send(
          envelope(
            `<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference><wsa:Address>${base}/onvif/subscription/${n}</wsa:Address></tev:SubscriptionReference>` +
              `<wsnt:CurrentTime>${now().toISOString()}</wsnt:CurrentTime><wsnt:TerminationTime>${termination()}</wsnt:TerminationTime></tev:CreatePullPointSubscriptionResponse>`,
          ),
        );
      }
      case 'Renew':
        return send(envelope(`<wsnt:RenewResponse><wsnt:TerminationTime>${termination()}</wsnt:TerminationTime><wsnt:CurrentTime>${now().toISOString()}</wsnt:CurrentTime></wsnt:RenewResponse>`));
      case 'Unsubscribe':
        return send(envelope('<wsnt:UnsubscribeResponse/>'));
      case 'PullMessages': {
        const raw = this.rawPulls.shift();
        if (raw !== undefined) return send(raw);
        if (this.queue.length === 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, this.options.holdMs ?? 200);
            this.waiting.push(() => {
              clearTimeout(timer);
              resolve();
            });
          });
        }
        const messages = this.queue.splice(0);
        return send(
          envelope(
            `<tev:PullMessagesResponse><tev:CurrentTime>${now().toISOString()}</tev:CurrentTime><tev:TerminationTime>${termination()}</tev:TerminationTime>` +
              `${messages.join('')}</tev:PullMessagesResponse>`,
          ),
        );
      }
      default:
        return send(fault('ter:ActionNotSupported', `${action} is not implemented`), 400);
    }
  }
}

/** The classic billion-laughs document, as a PullMessagesResponse whose event value is the bomb. */
export function billionLaughs(): string {
  const defs = ['<!ENTITY lol "lol">'];
  for (let i = 1; i <= 9; i++) defs.push(`<!ENTITY lol${i} "${`&lol${i === 1 ? '' : i - 1};`.repeat(10)}">`);
  return (
    `<?xml version="1.0"?>\n<!DOCTYPE lolz [\n${defs.join('\n')}\n]>\n` +
    envelope(
      `<tev:PullMessagesResponse><tev:CurrentTime>${new Date().toISOString()}</tev:CurrentTime><tev:TerminationTime>${new Date(Date.now() + 120_000).toISOString()}</tev:TerminationTime>` +
        notification('tns1:RuleEngine/FieldDetector/ObjectsInside', { Rule: '&lol9;' }, { IsInside: 'true' }, new Date().toISOString()) +
        `</tev:PullMessagesResponse>`,
    ).replace(/^<\?xml[^>]*>\n/, '')
  );
}

/** An external-entity (XXE) attempt: a SYSTEM entity naming a local file. */
export function externalEntity(): string {
  return (
    `<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n` +
    envelope(
      `<tev:PullMessagesResponse><tev:CurrentTime>${new Date().toISOString()}</tev:CurrentTime><tev:TerminationTime>${new Date(Date.now() + 120_000).toISOString()}</tev:TerminationTime>` +
        notification('tns1:RuleEngine/FieldDetector/ObjectsInside', { Rule: '&xxe;' }, { IsInside: 'true' }, new Date().toISOString()) +
        `</tev:PullMessagesResponse>`,
    ).replace(/^<\?xml[^>]*>\n/, '')
  );
}
