// The MQTT transport: an embedded aedes broker. Camera reports are validated and
// durably committed inside authorizePublish, which aedes runs BEFORE it sends PUBACK,
// so a PUBACK always means "stored".
import { createServer, type AddressInfo, type Server } from 'node:net';
import { Aedes, type AedesPublishPacket, type Client, type PublishPacket } from 'aedes';
import type { GatewayConfig } from '../../config/schema.js';
import { ID_PATTERN } from '../../config/schema.js';
import { GatewayError } from '../../errors.js';
import type { EventBus } from '../../events/bus.js';
import type { Logger } from '../../logger.js';
import type { IngestPipeline } from '../../pipeline/ingest.js';
import type { ReportValidator } from '../../validate/report.js';
import { guardFrameSize } from './frame-guard.js';
import { GatewayStatusSession } from './status.js';
import { TOPICS, parseCameraTopic } from './topics.js';

const CAMERA_ID = new RegExp(ID_PATTERN);

export interface MqttCounters {
  accepted: number;
  duplicates: number;
  rejected: number;
  refused: number;
  oversize: number;
}

export class MqttBroker {
  private aedes: Aedes | null = null;
  private server: Server | null = null;
  private status: GatewayStatusSession | null = null;
  private unsubscribe: (() => void) | null = null;
  readonly counters: MqttCounters = { accepted: 0, duplicates: 0, rejected: 0, refused: 0, oversize: 0 };

  constructor(
    private readonly config: GatewayConfig['mqtt'],
    private readonly validator: ReportValidator,
    private readonly pipeline: IngestPipeline,
    private readonly bus: EventBus,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const aedes = await Aedes.createBroker({
      authorizePublish: (client, packet, callback) => this.authorizePublish(client, packet, callback),
      heartbeatInterval: 60_000,
      drainTimeout: 30_000,
      maxClientsIdLength: 128,
    });
    aedes.on('clientError', (client, err) => this.log.debug({ client: client?.id, err: err.message }, 'mqtt client error'));
    aedes.on('connectionError', (client, err) => this.log.debug({ client: client?.id, err: err.message }, 'mqtt connection error'));
    this.aedes = aedes;

    const server = createServer((socket) => {
      guardFrameSize(socket, this.config.max_packet_bytes, (announced) => {
        this.counters.oversize++;
        this.log.warn({ remote: socket.remoteAddress, announced, limit: this.config.max_packet_bytes }, 'mqtt packet over the size limit; connection closed');
      });
      aedes.handle(socket);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.config.port, this.config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;

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
    this.log.info({ host: this.config.host, port: this.port }, 'mqtt broker listening');
  }

  /** Stops accepting connections, commits what is in flight so its PUBACKs go out, then closes. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    const server = this.server;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    await this.pipeline.drain();
    await this.status?.stop();
    const aedes = this.aedes;
    if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await closed;
    this.server = null;
    this.aedes = null;
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  get connectedClients(): number {
    return this.aedes?.connectedClients ?? 0;
  }

  get isListening(): boolean {
    return this.server?.listening ?? false;
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
        // store nothing, and tell the camera why on its rejects topic.
        this.reject(cameraId, incidentId, err, err.code);
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
