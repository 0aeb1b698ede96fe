// MQTT authentication, topic ACLs and per-client publish rates for the embedded aedes broker.
//
// Who a client is: an account from mqtt.accounts (username + bcrypt-hashed password), an
// anonymous client on loopback (mqtt.allow_anonymous_loopback), or the gateway's own
// in-process session (a stream no listener registered). Everyone else is refused at CONNECT.
// What it may do:
//   camera   publish only under safesphere/cameras/<id>/#; subscribe only to its own
//            topics (safesphere/cameras/<id>/#, safesphere/gateway/rejects/<id>)
//   siren    subscribe only to safesphere/sirens/<id>/set; publish only safesphere/sirens/<id>/state
//   recorder the same under safesphere/recorders/<id>/
//   signage  subscribe only to safesphere/routes/# (the retained safe routes) and
//            safesphere/gateway/status; publish nothing
//   keypad   publish only safesphere/gateway/arming/set; subscribe only to safesphere/gateway/arming/#
//            and safesphere/gateway/status (an arming keypad or panel, src/arming/)
//   admin    every topic (but $SYS)
// A last will is checked by the same publish rule (aedes asks authorizePublish for it).
// Client ids: the gateway's own prefix, control characters, and an empty id with clean
// session 0 get CONNACK 2 (identifier rejected) before any password is checked. Passwords are
// checked through the PasswordGate (off the event loop, throttled per address and username).
import { createHash } from 'node:crypto';
import type { Client, ConnectPacket, PublishPacket, Subscription } from 'aedes';
import type { GatewayConfig } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { isLoopback } from './cidr.js';
import { PasswordGate } from './password-gate.js';
import { TokenBucket } from './rate-limit.js';

/** The gateway's own session's client ids start with this (a random suffix per start); refused to everyone else. */
export const GATEWAY_CLIENT_PREFIX = 'safesphere-gateway-';
/** C0 and C1 controls, DEL: an MQTT 3.1.1 client id SHOULD NOT contain them (1.5.3), and NUL MUST NOT. */
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

/** Why an external client's id is refused (CONNACK 2), else null. */
export function clientIdProblem(clientId: string, clean: boolean): string | null {
  if (clientId === '' && !clean) return 'an empty client id needs clean session 1 (MQTT 3.1.1 [MQTT-3.1.3-8])';
  if (CONTROL_CHARACTERS.test(clientId)) return 'the client id contains control characters';
  if (clientId.toLowerCase().startsWith(GATEWAY_CLIENT_PREFIX)) return `client ids starting with ${GATEWAY_CLIENT_PREFIX} are reserved for the gateway`;
  return null;
}

type AccountRole = GatewayConfig['mqtt']['accounts'][number]['role'];

export type MqttIdentity =
  | { kind: 'internal' }
  | { kind: 'anonymous-loopback'; remote: string }
  | { kind: 'account'; username: string; role: AccountRole; id: string; remote: string; cameras: readonly string[] };

export interface ConnectionInfo {
  remote: string;
  listener: 'tcp' | 'tls' | 'ws';
}

/** CONNACK return codes (MQTT 3.1.1): 2 identifier rejected, 3 server unavailable, 4 bad username or password, 5 not authorized. */
export type RefusalCode = 2 | 3 | 4 | 5;
class ConnectRefused extends Error {
  constructor(
    message: string,
    readonly returnCode: RefusalCode,
  ) {
    super(message);
  }
}

const split = (t: string) => t.split('/');

/** True when every topic `filter` can match lies under the literal `prefix` levels (+ `#` for "anything below"). */
export function filterWithin(filter: string, allowed: string): boolean {
  const f = split(filter);
  const a = split(allowed);
  for (let i = 0; i < a.length; i++) {
    const level = a[i]!;
    if (level === '#') return i <= f.length; // anything at or below this level
    const got = f[i];
    if (got === undefined || got !== level) return false; // a wildcard where a literal is required is too wide
  }
  return f.length === a.length;
}

/** True when the concrete `topic` matches the ACL pattern `allowed` (literal levels and a trailing #). */
export function topicWithin(topic: string, allowed: string): boolean {
  if (topic.includes('+') || topic.includes('#')) return false;
  return filterWithin(topic, allowed);
}

export function publishTopics(identity: MqttIdentity): string[] | 'all' {
  if (identity.kind !== 'account') return 'all';
  switch (identity.role) {
    case 'camera':
      return identity.cameras.map((id) => `safesphere/cameras/${id}/#`);
    case 'siren':
      return [`safesphere/sirens/${identity.id}/state`];
    case 'recorder':
      return [`safesphere/recorders/${identity.id}/state`];
    case 'signage':
      return [];
    case 'keypad':
      return ['safesphere/gateway/arming/set'];
    case 'admin':
      return 'all';
  }
}

export function subscribeTopics(identity: MqttIdentity): string[] | 'all' {
  if (identity.kind !== 'account') return 'all';
  switch (identity.role) {
    case 'camera':
      return identity.cameras.flatMap((id) => [`safesphere/cameras/${id}/#`, `safesphere/gateway/rejects/${id}`]);
    case 'siren':
      return [`safesphere/sirens/${identity.id}/set`];
    case 'recorder':
      return [`safesphere/recorders/${identity.id}/set`];
    case 'signage':
      return ['safesphere/routes/#', 'safesphere/gateway/status'];
    case 'keypad':
      return ['safesphere/gateway/arming/#', 'safesphere/gateway/status'];
    case 'admin':
      return 'all';
  }
}

export interface MqttSecurityCounters {
  refused_connections: number;
  denied_publishes: number;
  denied_subscriptions: number;
  throttled_publishes: number;
  connection_limit: number;
  refused_client_ids: number;
}

export class MqttSecurity {
  private readonly streams = new WeakMap<object, ConnectionInfo>();
  private readonly identities = new WeakMap<Client, MqttIdentity>();
  private readonly buckets = new WeakMap<Client, TokenBucket>();
  /** What each client's CONNECT said (aedes replaces an empty client id before authenticate runs). */
  private readonly connects = new WeakMap<Client, { clientId: string; clean: boolean }>();
  readonly gate: PasswordGate;
  private readonly accounts: Map<string, GatewayConfig['mqtt']['accounts'][number]>;
  /** Recently verified username + password digests, so a reconnecting camera costs no second bcrypt. */
  private readonly verified = new Map<string, number>();
  open = 0;
  readonly counters: MqttSecurityCounters = {
    refused_connections: 0,
    denied_publishes: 0,
    denied_subscriptions: 0,
    throttled_publishes: 0,
    connection_limit: 0,
    refused_client_ids: 0,
  };

  constructor(
    private readonly config: GatewayConfig,
    private readonly log: Logger,
  ) {
    this.accounts = new Map(config.mqtt.accounts.map((a) => [a.username, a]));
    this.gate = new PasswordGate(config.limits);
  }

  /** aedes `preConnect`: remembers the CONNECT's own client id and clean flag for authenticate. */
  preConnect(client: Client, packet: ConnectPacket, done: (err: Error | null, ok: boolean) => void): void {
    this.connects.set(client, { clientId: packet.clientId ?? '', clean: packet.clean !== false });
    done(null, true);
  }

  logPolicy(): void {
    const m = this.config.mqtt;
    this.log.info(
      { allow_anonymous_loopback: m.allow_anonymous_loopback, accounts: m.accounts.map((a) => ({ username: a.username, role: a.role })) },
      m.allow_anonymous_loopback
        ? 'mqtt auth: anonymous clients allowed from loopback only (mqtt.allow_anonymous_loopback); others need an account'
        : 'mqtt auth: every client needs an account (mqtt.allow_anonymous_loopback=false)',
    );
    const l = this.config.limits;
    this.log.info(
      { publishes_per_s: l.mqtt_publishes_per_s, burst: l.mqtt_burst, max_connections: l.mqtt_max_connections },
      'mqtt limits: per-client publish rate and connection cap',
    );
  }

  /**
   * Called by each listener for a new connection. Returns false (and the caller closes it)
   * when the connection cap is reached.
   */
  admit(stream: object & { once(event: 'close', cb: () => void): unknown }, info: ConnectionInfo): boolean {
    if (this.open >= this.config.limits.mqtt_max_connections) {
      this.counters.connection_limit++;
      return false;
    }
    this.open++;
    this.streams.set(stream, info);
    stream.once('close', () => {
      this.open--;
    });
    return true;
  }

  identity(client: Client | null): MqttIdentity {
    if (!client) return { kind: 'internal' };
    return this.identities.get(client) ?? { kind: 'internal' };
  }

  /** aedes `authenticate`. */
  authenticate(client: Client, username: string | undefined, password: Buffer | undefined, done: (err: Error | null, ok: boolean) => void): void {
    const info = this.streams.get(client.conn as unknown as object);
    if (!info) {
      // Not from a listener: the gateway's own in-process session.
      this.identities.set(client, { kind: 'internal' });
      done(null, true);
      return;
    }
    const refuse = (message: string, code: RefusalCode) => {
      this.counters.refused_connections++;
      this.log.info({ remote: info.remote, listener: info.listener, client: client.id, username: username ?? null, reason: message, connack: code }, 'mqtt connection refused');
      done(new ConnectRefused(message, code), false);
    };
    // The id first: a reserved or malformed id never reaches a password check (nor takes over a session).
    const connect = this.connects.get(client);
    const idProblem = clientIdProblem(connect?.clientId ?? client.id, connect?.clean ?? client.clean);
    if (idProblem) {
      this.counters.refused_client_ids++;
      refuse(idProblem, 2);
      return;
    }
    if (username === undefined || username === '') {
      if (this.config.mqtt.allow_anonymous_loopback && isLoopback(info.remote)) {
        this.identities.set(client, { kind: 'anonymous-loopback', remote: info.remote });
        done(null, true);
      } else {
        refuse('anonymous connections are accepted from loopback only', 5);
      }
      return;
    }
    const account = this.accounts.get(username);
    const secret = password ?? Buffer.alloc(0);
    const cacheKey = account ? createHash('sha256').update(username).update('\0').update(secret).update(account.password_hash).digest('hex') : '';
    const accept = () => {
      const id = account!.id || account!.username;
      const cameras = account!.cameras.length ? account!.cameras : [id];
      this.identities.set(client, { kind: 'account', username, role: account!.role, id, remote: info.remote, cameras });
      done(null, true);
    };
    // A secret verified since start (a reconnecting camera) costs nothing and waits for nothing.
    if (account && this.verified.has(cacheKey)) {
      accept();
      return;
    }
    // An unknown username costs one real check too, so a scan cannot tell usernames apart by timing.
    this.gate.check(info.remote, username, secret, account?.password_hash ?? null).then(
      (outcome) => {
        if (outcome.kind === 'busy') return refuse(`server busy: ${outcome.reason}`, 3);
        if (outcome.kind === 'wrong') return refuse('bad username or password', 4);
        if (this.verified.size > 10_000) this.verified.delete(this.verified.keys().next().value!);
        this.verified.set(cacheKey, Date.now());
        accept();
      },
      () => refuse('bad username or password', 4),
    );
  }

  /** The ACL for a publish (and a last will): null if allowed, else the reason. */
  checkPublish(client: Client | null, packet: Pick<PublishPacket, 'topic'>): string | null {
    const identity = this.identity(client);
    const allowed = publishTopics(identity);
    if (allowed === 'all') return null;
    if (allowed.some((pattern) => topicWithin(packet.topic, pattern))) return null;
    this.counters.denied_publishes++;
    const who = identity.kind === 'account' ? identity.username : identity.kind;
    this.log.warn({ client: client?.id, username: who, topic: packet.topic }, 'mqtt publish denied by the ACL; client disconnected');
    return `publishing to ${packet.topic} is not allowed for ${who}`;
  }

  /** aedes `authorizeSubscribe`: a denied filter gets a failure return code (0x80) in the SUBACK. */
  checkSubscribe(client: Client, sub: Subscription): Subscription | null {
    const identity = this.identity(client);
    const allowed = subscribeTopics(identity);
    if (allowed === 'all' || allowed.some((pattern) => filterWithin(sub.topic, pattern))) return sub;
    this.counters.denied_subscriptions++;
    const who = identity.kind === 'account' ? identity.username : identity.kind;
    this.log.warn({ client: client.id, username: who, topic: sub.topic }, 'mqtt subscription denied by the ACL');
    return null;
  }

  /** Milliseconds this publish must wait to respect the client's rate (0: go now). Internal sessions are never slowed. */
  throttle(client: Client | null): number {
    const rate = this.config.limits.mqtt_publishes_per_s;
    if (!client || rate <= 0 || this.identity(client).kind === 'internal') return 0;
    let bucket = this.buckets.get(client);
    if (!bucket) {
      bucket = new TokenBucket(rate, this.config.limits.mqtt_burst);
      this.buckets.set(client, bucket);
    }
    const wait = bucket.take();
    if (wait > 0) this.counters.throttled_publishes++;
    return wait;
  }
}
