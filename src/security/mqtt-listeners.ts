// The embedded broker's extra listeners: MQTT over TLS (mqtt.tls_port) and MQTT over
// WebSocket (mqtt.ws_port, path /mqtt, ws:// or wss://). Each connection is handed to the
// same `accept` as the plain TCP listener (connection cap, packet size guard, aedes).
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { noDelay } from '../transport/nodelay.js';
import type { GatewayConfig } from '../config/schema.js';
import type { Logger } from '../logger.js';
import type { TlsManager } from './tls.js';

export type Accept = (stream: Duplex, remote: string, listener: 'tls' | 'ws') => void;

export class MqttExtraListeners {
  private tlsServer: TlsServer | null = null;
  private wsHttp: HttpServer | null = null;
  private wss: WebSocketServer | null = null;

  constructor(
    private readonly config: GatewayConfig,
    private readonly tls: TlsManager | undefined,
    private readonly log: Logger,
  ) {}

  async start(accept: Accept): Promise<void> {
    const { mqtt, tls: tlsConfig, limits } = this.config;
    const listen = (server: TlsServer | HttpServer, port: number) =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, mqtt.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    if (tlsConfig.mqtt) {
      if (!this.tls) throw new Error('tls.mqtt is on but no TLS manager was given');
      const server = createTlsServer({ ...this.tls.credentials(), handshakeTimeout: mqtt.connect_timeout_ms, noDelay: true }, (socket) =>
        accept(socket, socket.remoteAddress ?? '', 'tls'),
      );
      server.on('tlsClientError', (err) => this.log.debug({ err: err.message }, 'mqtt tls handshake failed'));
      server.maxConnections = limits.mqtt_max_connections;
      await listen(server, mqtt.tls_port);
      this.tls.register('mqtt-tls', server);
      this.tlsServer = server;
      this.log.info({ host: mqtt.host, port: this.tlsPort }, 'mqtt over tls listening');
    }
    if (mqtt.ws_enabled) {
      let http: HttpServer;
      if (tlsConfig.mqtt_ws) {
        if (!this.tls) throw new Error('tls.mqtt_ws is on but no TLS manager was given');
        http = createHttpsServer({ ...this.tls.credentials(), headersTimeout: limits.http_headers_timeout_ms, noDelay: true });
        this.tls.register('mqtt-ws', http as unknown as TlsServer);
      } else {
        http = createHttpServer({ headersTimeout: limits.http_headers_timeout_ms, noDelay: true });
      }
      http.maxConnections = limits.mqtt_max_connections;
      const wss = new WebSocketServer({ server: http, path: '/mqtt', maxPayload: mqtt.max_packet_bytes, handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : false) });
      wss.on('connection', (ws, request) => {
        noDelay(request.socket);
        const stream = createWebSocketStream(ws);
        stream.on('error', () => stream.destroy());
        accept(stream, request.socket.remoteAddress ?? '', 'ws');
      });
      await listen(http, mqtt.ws_port);
      this.wsHttp = http;
      this.wss = wss;
      this.log.info({ host: mqtt.host, port: this.wsPort, path: '/mqtt', tls: tlsConfig.mqtt_ws }, 'mqtt over websocket listening');
    }
  }

  async stop(): Promise<void> {
    this.tls?.unregister('mqtt-tls');
    this.tls?.unregister('mqtt-ws');
    const closing: Promise<void>[] = [];
    if (this.tlsServer) {
      const s = this.tlsServer;
      closing.push(new Promise((resolve) => s.close(() => resolve())));
    }
    if (this.wss) {
      for (const ws of this.wss.clients) ws.terminate();
      this.wss.close();
    }
    if (this.wsHttp) {
      const s = this.wsHttp;
      s.closeAllConnections();
      closing.push(new Promise((resolve) => s.close(() => resolve())));
    }
    await Promise.all(closing);
    this.tlsServer = null;
    this.wsHttp = null;
    this.wss = null;
  }

  get tlsPort(): number {
    return (this.tlsServer?.address() as AddressInfo | null)?.port ?? 0;
  }

  get wsPort(): number {
    return (this.wsHttp?.address() as AddressInfo | null)?.port ?? 0;
  }
}
