// The MQTT transport: an embedded aedes broker. Camera reports are validated and
// durably committed inside authorizePublish, which aedes runs BEFORE it sends PUBACK,
// so a PUBACK always means "stored".
import { createServer, type AddressInfo, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import { Aedes, type AedesPublishPacket, type Client, type ConnectPacket, type PublishPacket, type Subscription } from 'aedes';
import type { GatewayConfig } from '../../config/schema.js';
import { ID_PATTERN } from '../../config/schema.js';
import { GatewayError } from '../../errors.js';
import type { EventBus } from '../../events/bus.js';
import type { Logger } from '../../logger.js';
import type { IngestPipeline } from '../../pipeline/ingest.js';
import { reportIdOf, type ReportValidator } from '../../validate/report.js';
import { MqttSecurity, type MqttIdentity } from '../../security/mqtt.js';
import { MqttClient, type IClientOptions } from 'mqtt';
import { MqttExtraListeners } from '../../security/mqtt-listeners.js';
import type { TlsManager } from '../../security/tls.js';
import { noDelay } from '../nodelay.js';
import { guardFrameSize } from './frame-guard.js';
import { duplexPair, GatewayStatusSession } from './status.js';
import { TOPICS, parseCameraTopic, parseSnapshotTopic } from './topics.js';

const CAMERA_ID = new RegExp(ID_PATTERN);

export interface MqttCounters {
  accepted: number;
  duplicates: number;
  rejected: number;
  refused: number;
  oversize: number;
}

export type SnapshotSink = (cameraId: string, incidentId: string, payload: Buffer) => Promise<unknown>;

/**
 * Takes a client's publish on one exact topic before its PUBACK, knowing who sent it (for
 * commands such as arming). May return the payload subscribers get instead (e.g. without a PIN).
 */
export type CommandHandler = (payload: Buffer, who: MqttIdentity & { clientId: string }) => Promise<Buffer | void>;

export class MqttBroker {
  private aedes: Aedes | null = null;
  private server: Server | null = null;
  private status: GatewayStatusSession | null = null;
  private unsubscribe: (() => void) | null = null;
  readonly counters: MqttCounters = { accepted: 0, duplicates: 0, rejected: 0, refused: 0, oversize: 0 };
  private readonly commands = new Map<string, CommandHandler>();

  constructor(
    private readonly config: GatewayConfig['mqtt'],
    private readonly validator: ReportValidator,
    private readonly pipeline: IngestPipeline,
    private readonly bus: EventBus,
    private readonly log: Logger,
    /** Accounts, ACLs, rates, TLS and WebSocket listeners (src/security/); the full config enables them. */
    private readonly secure: { config: GatewayConfig; tls?: TlsManager | undefined } | null = null,
    /**
     * Where binary snapshots on safesphere/cameras/<camera_id>/snapshots/<incident_id> go
     * (src/evidence/); resolves once stored. Null: such publishes are routed like any other.
     */
    private readonly snapshotSink: SnapshotSink | null = null,
  ) {
    this.security = secure ? new MqttSecurity(secure.config, log.child({ subsystem: 'mqtt-auth' })) : null;
    this.extra = secure ? new MqttExtraListeners(secure.config, secure.tls, log) : null;
  }

  readonly security: MqttSecurity | null;
  private readonly extra: MqttExtraListeners | null;

  /** A new connection from any listener: connection cap, packet size guard, then aedes. */
  private accept(aedes: Aedes, stream: Duplex, remote: string, listener: 'tcp' | 'tls' | 'ws'): void {
    if (this.security && !this.security.admit(stream, { remote, listener })) {
      this.log.warn({ remote, listener, limit: this.secure?.config.limits.mqtt_max_connections }, 'mqtt connection limit reached; connection closed');
      stream.destroy();
      return;
    }
    noDelay(stream); // TCP and TLS sockets; the WebSocket listener sets it on the socket under the stream
    guardFrameSize(stream as unknown as Parameters<typeof guardFrameSize>[0], this.config.max_packet_bytes, (announced) => {
      this.counters.oversize++;
      this.log.warn({ remote, announced, limit: this.config.max_packet_bytes }, 'mqtt packet over the size limit; connection closed');
    });
    aedes.handle(stream);
  }

  /** ACL (publish and last will), then the client's rate, then the ingest below. */
  private guardedPublish(client: Client | null, packet: PublishPacket, callback: (err?: Error | null) => void): void {
    const security = this.security;
    if (!security) return this.authorizePublish(client, packet, callback);
    const denied = security.checkPublish(client, packet);
    if (denied) return callback(new Error(denied));
    const wait = security.throttle(client);
    // aedes reads no further packets from this client until the callback: the flood waits in its own socket.
    if (wait > 0) setTimeout(() => this.authorizePublish(client, packet, callback), wait);
    else this.authorizePublish(client, packet, callback);
  }

  get tlsPort(): number {
    return this.extra?.tlsPort ?? 0;
  }

  get wsPort(): number {
    return this.extra?.wsPort ?? 0;
  }

  async start(): Promise<void> {
    const security = this.security;
    security?.logPolicy();
    const aedes = await Aedes.createBroker({
      authorizePublish: (client, packet, callback) => this.guardedPublish(client, packet, callback),
      ...(security
        ? {
            authenticate: ((client: Client, username: string | undefined, password: Buffer | undefined, done: (err: Error | null, ok: boolean) => void) =>
              security.authenticate(client, username, password, done)) as unknown as NonNullable<Parameters<typeof Aedes.createBroker>[0]>['authenticate'],
            preConnect: (client: Client, packet: ConnectPacket, done: (err: Error | null, ok: boolean) => void) => security.preConnect(client, packet, done),
            authorizeSubscribe: (client: Client, sub: Subscription, done: (err: Error | null, sub: Subscription | null) => void) =>
              done(null, security.checkSubscribe(client, sub)),
            connectTimeout: this.secure!.config.mqtt.connect_timeout_ms,
          }
        : {}),
      heartbeatInterval: 60_000,
      drainTimeout: 30_000,
      maxClientsIdLength: 128,
    });
    aedes.on('publish', (packet) => {
      if (this.observers.size === 0 || packet.topic.startsWith('$SYS')) return;
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      for (const listener of this.observers) {
        try {
          listener(packet.topic, payload);
        } catch (err) {
          this.log.warn({ err, topic: packet.topic }, 'publish observer failed');
        }
      }
    });
    aedes.on('clientError', (client, err) => this.log.debug({ client: client?.id, err: err.message }, 'mqtt client error'));
    aedes.on('connectionError', (client, err) => this.log.debug({ client: client?.id, err: err.message }, 'mqtt connection error'));
    this.aedes = aedes;

    const server = createServer({ noDelay: true }, (socket) => this.accept(aedes, socket, socket.remoteAddress ?? '', 'tcp'));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.config.port, this.config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    await this.extra?.start((stream, remote, listener) => this.accept(aedes, stream, remote, listener));

    this.unsubscribe = this.bus.on('incident.stored', ({ incident, actions }) => {
      aedes.publish(
        {
          cmd: 'publish',
          topic: TOPICS.incidents(incident.threat_level),
          payload: Buffer.from(JSON.stringify({ ...incident, actions })),
          qos: 1,
          retain: false,
          dup: false,
        },
        (err) => {
          if (err) this.log.warn({ err }, 'publishing an incident failed');
        },
      );
    });

    this.status = new GatewayStatusSession(aedes, this.log);
    await this.status.start();
    this.statusSession = this.status;
    this.log.info({ host: this.config.host, port: this.port }, 'mqtt broker listening');
  }

  /** Stops accepting connections, commits what is in flight so its PUBACKs go out, then closes. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    const server = this.server;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    const extraClosed = this.extra?.stop();
    await this.pipeline.drain();
    await this.status?.stop();
    const aedes = this.aedes;
    if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await closed;
    await extraClosed;
    this.server = null;
    this.aedes = null;
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  /** The gateway's own session (retained status), kept after stop for its counters. */
  statusSession: GatewayStatusSession | null = null;

  get connectedClients(): number {
    return this.aedes?.connectedClients ?? 0;
  }

  get isListening(): boolean {
    return this.server?.listening ?? false;
  }

  /** Registers the handler of a command topic (before start; one handler per topic). */
  handleCommand(topic: string, handler: CommandHandler): () => void {
    if (this.commands.has(topic)) throw new Error(`${topic} already has a command handler`);
    this.commands.set(topic, handler);
    return () => this.commands.delete(topic);
  }

  /**
   * A session of the gateway's own on the embedded broker, in-process (no socket): for
   * components that subscribe, e.g. Home Assistant discovery. Resolves once connected.
   */
  async internalSession(options: Omit<IClientOptions, 'reconnectPeriod' | 'protocolVersion'> & { clientId: string }): Promise<MqttClient> {
    const aedes = this.aedes;
    if (!aedes) throw new Error('broker is not started');
    const [brokerSide, clientSide] = duplexPair();
    aedes.handle(brokerSide);
    const client = new MqttClient(() => clientSide, { keepalive: 60, ...options, protocolVersion: 4, reconnectPeriod: 0 });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    return client;
  }

  private readonly observers = new Set<(topic: string, payload: Buffer) => void>();

  /** Every publish the broker routes, after its checks (sirens' state echoes); returns the unsubscribe. */
  observe(listener: (topic: string, payload: Buffer) => void): () => void {
    this.observers.add(listener);
    return () => this.observers.delete(listener);
  }

  /** Publishes on the embedded broker, for other components (and tests). */
  publish(packet: Omit<PublishPacket, 'cmd' | 'dup'>): Promise<void> {
    const aedes = this.aedes;
    if (!aedes) return Promise.reject(new Error('broker is not started'));
    return new Promise((resolve, reject) =>
      aedes.publish({ cmd: 'publish', dup: false, ...packet } as PublishPacket, (err) => (err ? reject(err) : resolve())),
    );
  }

  private authorizePublish(client: Client | null, packet: PublishPacket, callback: (err?: Error | null) => void): void {
    if (packet.topic.startsWith('$SYS')) {
      callback(new Error('$SYS topics are reserved'));
      return;
    }
    const snapshot = client !== null && this.snapshotSink ? parseSnapshotTopic(packet.topic) : null;
    if (snapshot) {
      // Like a report: stored (or refused with a reject message) before the PUBACK.
      this.ingestSnapshot(snapshot.cameraId, snapshot.incidentId, packet).then(
        () => callback(null),
        (err: Error) => callback(err),
      );
      return;
    }
    const command = client !== null ? this.commands.get(packet.topic) : undefined;
    if (command) {
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      const who = { ...(this.security?.identity(client) ?? { kind: 'internal' as const }), clientId: client!.id };
      command(payload, who).then(
        (replacement) => {
          if (replacement) packet.payload = replacement;
          callback(null);
        },
        (err: Error) => {
          this.log.warn({ topic: packet.topic, err: err.message }, 'mqtt command failed');
          callback(null);
        },
      );
      return;
    }
    const cameraId = parseCameraTopic(packet.topic);
    if (cameraId === null || client === null) {
      callback(null);
      return;
    }
    this.ingest(cameraId, packet).then(
      () => callback(null),
      // A refusal we cannot answer in MQTT 3.1.1 (storage full, overload, shutdown):
      // no PUBACK, the connection closes, and the camera resends the report later.
      (err: Error) => callback(err),
    );
  }

  readonly snapshotCounters = { accepted: 0, rejected: 0, refused: 0 };

  private async ingestSnapshot(cameraId: string, incidentId: string, packet: PublishPacket | AedesPublishPacket): Promise<void> {
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const safeIncident = incidentId.length <= 128 ? incidentId : null;
    if (!CAMERA_ID.test(cameraId) || cameraId.length > 64) {
      this.snapshotCounters.rejected++;
      this.reject(cameraId, safeIncident, new Error('camera id in the topic may contain only letters, digits and _ . : -'), 'INVALID_TOPIC');
      return;
    }
    try {
      await this.snapshotSink!(cameraId, incidentId, payload);
      this.snapshotCounters.accepted++;
    } catch (err) {
      if (err instanceof GatewayError && err.statusCode < 500) {
        // The snapshot itself is wrong: PUBACK (a resend would be as wrong), the reason on the rejects topic.
        this.snapshotCounters.rejected++;
        this.reject(cameraId, safeIncident, err, err.code);
        return;
      }
      this.snapshotCounters.refused++;
      this.log.warn({ camera_id: cameraId, incident_id: safeIncident, err: (err as Error).message }, 'mqtt snapshot refused; no PUBACK sent');
      throw err;
    }
  }

  private async ingest(cameraId: string, packet: PublishPacket | AedesPublishPacket): Promise<void> {
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    if (!CAMERA_ID.test(cameraId) || cameraId.length > 64) {
      this.reject(cameraId, null, new Error('camera id in the topic may contain only letters, digits and _ . : -'), 'INVALID_TOPIC');
      return;
    }
    let incidentId: string | null = null;
    try {
      const valid = this.validator.parse(payload, 'mqtt', cameraId);
      incidentId = valid.report.incident_id;
      const outcome = await this.pipeline.submit(valid);
      if (outcome.kind === 'duplicate') this.counters.duplicates++;
      else this.counters.accepted++;
    } catch (err) {
      if (err instanceof GatewayError && err.statusCode < 500) {
        // The report itself is wrong: acknowledge it (a resend would be just as wrong),
        // store nothing, and tell the camera why on its rejects topic, naming the report when it parsed.
        this.reject(cameraId, incidentId ?? reportIdOf(payload), err, err.code);
        return;
      }
      this.counters.refused++;
      this.log.warn({ camera_id: cameraId, err: (err as Error).message }, 'mqtt report refused; no PUBACK sent');
      throw err;
    }
  }

  private reject(cameraId: string, incidentId: string | null, err: Error, code: string): void {
    this.counters.rejected++;
    const details = err instanceof GatewayError ? err.details : [];
    this.bus.emit('report.rejected', { source: 'mqtt', cameraId, code, message: err.message });
    this.log.info({ camera_id: cameraId, incident_id: incidentId, code, details }, 'mqtt report rejected');
    const safeCamera = CAMERA_ID.test(cameraId) ? cameraId : '_invalid';
    this.aedes?.publish(
      {
        cmd: 'publish',
        topic: TOPICS.rejects(safeCamera),
        payload: Buffer.from(
          JSON.stringify({ error: { code, message: err.message, details }, incident_id: incidentId, camera_id: cameraId, at: new Date().toISOString() }),
        ),
        qos: 0,
        retain: false,
        dup: false,
      },
      () => {},
    );
  }
}
