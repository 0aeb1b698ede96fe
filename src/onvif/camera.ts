// One ONVIF camera's pull-point subscription, through the onvif package's Cam: connect
// (GetSystemDateAndTime, GetServices or GetCapabilities), CreatePullPointSubscription, then
// PullMessages in a loop, Renew before the subscription runs out, Unsubscribe at stop. A camera
// that stops answering is degraded and retried with exponential backoff and jitter; one that
// refuses the credentials waits onvif.auth_retry_s, so a wrong password cannot become a retry
// storm. Every response is refused before it is used if it carries a DTD or an entity
// declaration (SOAP 1.2 forbids a DTD; this is the XXE / billion-laughs guard) or if it is
// larger than onvif.max_response_bytes (cut off at the socket, never buffered whole).
import { Agent, type AgentOptions } from 'node:http';
import type { Socket } from 'node:net';
import onvif from 'onvif';
import type { GatewayConfig } from '../config/schema.js';
import { ERRORS, GatewayError } from '../errors.js';
import type { ComponentHealth } from '../health.js';
import type { Logger } from '../logger.js';
import { eventReport, HoldOff, isActive, ruleFor, toEvent } from './events.js';

type OnvifConfig = GatewayConfig['onvif'];
type CameraConfig = OnvifConfig['cameras'][number];

/** What the camera's events are handed to: validate → pipeline; resolves with the outcome. */
export type Submit = (report: ReturnType<typeof eventReport>) => Promise<'stored' | 'duplicate' | 'refused'>;

/** Renew when less than this remains: PullMessages may be held by the camera for up to a minute. */
const RENEW_BEFORE_MS = 75_000;
const STOP_GRACE_MS = 1000;

/** An http.Agent whose sockets are destroyed once a response passes `max` bytes. */
class CappedAgent extends Agent {
  constructor(
    private readonly max: number,
    private readonly exceeded: () => void,
    options: AgentOptions,
  ) {
    super(options);
  }

  override createConnection(...args: unknown[]): Socket {
    const socket = (Agent.prototype as unknown as { createConnection(...a: unknown[]): Socket }).createConnection.apply(this, args);
    let bytes = 0;
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > this.max) {
        this.exceeded();
        socket.destroy(new Error(`response larger than ${this.max} bytes`));
      }
    });
    return socket;
  }
}

export function parseAddress(address: string): { hostname: string; port: number; path: string } {
  const url = new URL(/^[a-z]+:\/\//i.test(address) ? address : `http://${address}`);
  if (url.protocol !== 'http:') throw new Error(`${address}: only http:// device service addresses are supported`);
  return { hostname: url.hostname.replace(/^\[|\]$/g, ''), port: url.port ? Number(url.port) : 80, path: url.pathname === '/' ? '/onvif/device_service' : url.pathname };
}

const isAuthError = (err: Error): boolean => /NotAuthorized|not authori[sz]ed|authentication failed|Sender not Authorized|\b401\b/i.test(err.message);

export interface CameraCounters {
  pulls: number;
  messages: number;
  stored: number;
  duplicates: number;
  /** Repeats inside the hold-off window. */
  deduplicated: number;
  /** Unmapped or disabled topics, initial states and state ends. */
  ignored: number;
  refused: Record<string, number>;
  reconnects: number;
}

type State = 'starting' | 'up' | 'degraded' | 'auth_failed' | 'stopped';

export class OnvifCamera {
  private state: State = 'starting';
  private stopping = false;
  private loop: Promise<void> | null = null;
  private cam: onvif.Cam | null = null;
  private wake: (() => void) | null = null;
  private lastError: { code: string; message: string; at: string } | null = null;
  private retryAt: number | null = null;
  private connectedAt: string | null = null;
  private lastPullAt: string | null = null;
  private failures = 0;
  private xmlRefused: string | null = null;
  private tooLarge = false;
  private terminationAt = 0;
  private readonly holdOff: HoldOff;
  readonly counters: CameraCounters = { pulls: 0, messages: 0, stored: 0, duplicates: 0, deduplicated: 0, ignored: 0, refused: {}, reconnects: 0 };

  constructor(
    private readonly config: OnvifConfig,
    readonly camera: CameraConfig,
    private readonly password: () => string,
    private readonly submit: Submit,
    private readonly log: Logger,
    private readonly random: () => number = Math.random,
  ) {
    this.holdOff = new HoldOff((camera.holdoff_s ?? config.holdoff_s) * 1000);
  }

  start(): void {
    this.loop = this.run().catch((err: unknown) => this.log.error({ err, camera_id: this.camera.id }, 'onvif camera loop ended'));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    // A PullMessages may be held by the camera for a minute; the loop is not waited for that long.
    if (this.loop) await Promise.race([this.loop, new Promise((r) => setTimeout(r, STOP_GRACE_MS).unref())]);
    const cam = this.cam;
    if (cam?.events?.subscription) {
      await Promise.race([new Promise<void>((resolve) => cam.unsubscribe(() => resolve())), new Promise((r) => setTimeout(r, STOP_GRACE_MS).unref())]);
    }
    this.state = 'stopped';
  }

  health(): ComponentHealth {
    return {
      status: this.state === 'up' ? 'up' : 'degraded',
      state: this.state,
      address: this.camera.address,
      ...(this.lastError ? { error: this.lastError } : {}),
      ...(this.retryAt ? { retry_at: new Date(this.retryAt).toISOString() } : {}),
      connected_at: this.connectedAt,
      last_pull_at: this.lastPullAt,
      ...this.counters,
      refused: { ...this.counters.refused },
    };
  }

  private refuse(code: string): void {
    this.counters.refused[code] = (this.counters.refused[code] ?? 0) + 1;
  }

  private agent: CappedAgent | null = null;

  private newCam(): onvif.Cam {
    const { hostname, port, path } = parseAddress(this.camera.address);
    const agent = new CappedAgent(this.config.max_response_bytes, () => (this.tooLarge = true), { keepAlive: false });
    this.agent = agent;
    const cam = new onvif.Cam({
      hostname,
      port,
      path,
      username: this.camera.username || undefined,
      password: this.password() || undefined,
      timeout: this.config.timeout_ms,
      autoconnect: false,
      // Service addresses the camera advertises keep our host and port (NAT, a proxy, a test server).
      preserveAddress: true,
      agent,
    } as onvif.CamOptions);
    // Emitted with the whole body before the package parses it: the DTD/entity guard.
    cam.on('rawResponse', (xml: string) => {
      if (/<!DOCTYPE|<!ENTITY/i.test(xml)) this.xmlRefused = 'the response has a DTD or entity declaration';
      if (Buffer.byteLength(xml) > this.config.max_response_bytes) this.tooLarge = true;
    });
    return cam;
  }

  /** Runs one package call; refusals found by the guards become coded errors. */
  private call<T>(fn: (cb: (err: Error | null, value?: T) => void) => void): Promise<T> {
    this.xmlRefused = null;
    this.tooLarge = false;
    return new Promise<T>((resolve, reject) => {
      fn((err, value) => {
        if (this.xmlRefused) reject(new GatewayError(ERRORS.XML_DTD_REFUSED, [{ path: '(body)', message: this.xmlRefused }]));
        else if (this.tooLarge) reject(new GatewayError(ERRORS.PAYLOAD_TOO_LARGE, [{ path: '(body)', message: `is over ${this.config.max_response_bytes} bytes` }]));
        else if (err) reject(err);
        else resolve(value as T);
      });
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    }).then(() => {
      this.wake = null;
    });
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.connect();
        await this.pullLoop();
      } catch (err) {
        if (this.stopping) break;
        await this.failed(err as Error);
      }
    }
  }

  private async connect(): Promise<void> {
    const cam = this.newCam();
    this.cam = cam;
    await this.call<void>((cb) => cam.connect((err) => cb(err ?? null)));
    const sub = await this.call<{ currentTime: Date; terminationTime: Date }>((cb) => cam.createPullPointSubscription((err, s) => cb(err, s)));
    // The package sends PullMessages, Renew and Unsubscribe with the subscription's parsed URL as
    // the request options, without its agent: give that URL the capped agent too.
    const address = (cam.events as { subscription?: { subscriptionReference?: { address?: Record<string, unknown> } } }).subscription?.subscriptionReference?.address;
    if (address && typeof address === 'object') address.agent = this.agent;
    this.setTermination(sub);
    this.state = 'up';
    this.failures = 0;
    this.retryAt = null;
    this.lastError = null;
    this.connectedAt = new Date().toISOString();
    this.log.info({ camera_id: this.camera.id, address: this.camera.address }, 'onvif pull-point subscription created');
  }

  private setTermination(t: { currentTime?: unknown; terminationTime?: unknown } | undefined): void {
    const current = t?.currentTime instanceof Date ? t.currentTime.getTime() : Date.parse(String(t?.currentTime));
    const end = t?.terminationTime instanceof Date ? t.terminationTime.getTime() : Date.parse(String(t?.terminationTime));
    // The camera's clock may differ from ours: only the remaining time counts.
    if (Number.isFinite(current) && Number.isFinite(end)) this.terminationAt = Date.now() + (end - current);
  }

  private async pullLoop(): Promise<void> {
    const cam = this.cam!;
    while (!this.stopping) {
      if (this.terminationAt - Date.now() < RENEW_BEFORE_MS) {
        const renewed = await this.call<{ currentTime?: unknown; terminationTime?: unknown }>((cb) => cam.renew({}, (err, data) => cb(err, data)));
        this.setTermination(renewed);
      }
      let data: { notificationMessage?: unknown; currentTime?: unknown; terminationTime?: unknown } | undefined;
      try {
        data = await this.call((cb) => cam.pullMessages({ messageLimit: this.config.message_limit }, (err, d) => cb(err, d)));
      } catch (err) {
        // A refused response: counted, nothing from it used; the subscription itself is fine.
        if (err instanceof GatewayError && (err.code === ERRORS.XML_DTD_REFUSED.code || err.code === ERRORS.PAYLOAD_TOO_LARGE.code)) {
          this.refuse(err.code);
          this.log.warn({ camera_id: this.camera.id, code: err.code }, 'onvif response refused');
          await this.sleep(this.config.backoff_min_ms);
          continue;
        }
        throw err;
      }
      if (this.stopping) return;
      this.counters.pulls++;
      this.lastPullAt = new Date().toISOString();
      if (data?.terminationTime !== undefined) this.setTermination(data);
      const list = data?.notificationMessage === undefined ? [] : Array.isArray(data.notificationMessage) ? data.notificationMessage : [data.notificationMessage];
      for (const n of list) await this.handle(n);
    }
  }

  private async handle(notification: unknown): Promise<void> {
    this.counters.messages++;
    const e = toEvent(notification);
    if (!e) {
      this.refuse(ERRORS.INVALID_SOURCE_EVENT.code);
      return;
    }
    const rule = ruleFor(this.config.topics, e.path);
    if (!rule || !isActive(e)) {
      this.counters.ignored++;
      return;
    }
    const now = Date.now();
    if (!this.holdOff.admit(this.camera.id, e, rule.kind, now)) {
      this.counters.deduplicated++;
      return;
    }
    const outcome = await this.submit(eventReport(this.camera.id, this.camera.address, e, rule, now));
    if (outcome === 'stored') this.counters.stored++;
    else if (outcome === 'duplicate') this.counters.duplicates++;
    else this.refuse(ERRORS.INVALID_REPORT.code);
  }

  private async failed(err: Error): Promise<void> {
    const auth = isAuthError(err);
    const code = auth
      ? ERRORS.ONVIF_AUTH_FAILED.code
      : err instanceof GatewayError
        ? err.code
        : ERRORS.ONVIF_UNREACHABLE.code;
    if (err instanceof GatewayError) this.refuse(err.code);
    this.failures++;
    this.counters.reconnects++;
    const delay = auth
      ? this.config.auth_retry_s * 1000
      : Math.min(this.config.backoff_max_ms, this.config.backoff_min_ms * 2 ** Math.min(this.failures - 1, 20)) * (0.5 + this.random() * 0.5);
    this.state = auth ? 'auth_failed' : 'degraded';
    this.lastError = { code, message: auth ? `${ERRORS.ONVIF_AUTH_FAILED.message}: ${err.message}` : err.message, at: new Date().toISOString() };
    this.retryAt = Date.now() + delay;
    this.cam = null;
    this.log[auth || this.failures === 1 ? 'error' : 'warn'](
      { camera_id: this.camera.id, code, err: err.message, retry_ms: Math.round(delay), failures: this.failures },
      auth ? 'onvif camera refused the credentials' : 'onvif camera not answering',
    );
    await this.sleep(delay);
  }
}
