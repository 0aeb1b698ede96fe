// The HTTP transport and query API: the SafeSphere backend's endpoints, served by fastify.
import type { AddressInfo } from 'node:net';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import websocket from '@fastify/websocket';
import type { GatewayConfig } from '../../config/schema.js';
import { ERRORS, GatewayError } from '../../errors.js';
import type { HealthRegistry } from '../../health.js';
import type { Logger } from '../../logger.js';
import type { Module } from '../../module.js';
import { parseJsonBody } from '../../validate/report.js';
import type { AccessControl } from '../../security/access.js';
import { registerHttpSecurity, type HttpSecurity, type RegisteredRoute } from '../../security/http.js';
import type { TlsManager } from '../../security/tls.js';
import { healthRoutes } from './health.js';

export interface HttpServerOptions {
  config: GatewayConfig;
  log: Logger;
  version: string;
  health: HealthRegistry;
  access: AccessControl;
  /** TLS material when tls.http is on (reloaded on SIGHUP). */
  tls: TlsManager;
  /** Every module; each registers its own routes (Module.routes). */
  modules: () => readonly Module[];
}

/** Maps fastify's own errors and ours onto the one `{error: {code, message, details}}` shape. */
function toGatewayError(err: FastifyError | GatewayError, bodyLimit: number): GatewayError {
  if (err instanceof GatewayError) return err;
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new GatewayError(ERRORS.PAYLOAD_TOO_LARGE, [{ path: '(body)', message: `is larger than the limit of ${bodyLimit} bytes` }]);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new GatewayError(err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? ERRORS.UNSUPPORTED_MEDIA_TYPE : ERRORS.BAD_REQUEST);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new GatewayError(ERRORS.MALFORMED_JSON, [{ path: '(body)', message: 'is empty' }]);
    case 'FST_ERR_VALIDATION':
      return new GatewayError(
        ERRORS.BAD_REQUEST,
        (err.validation ?? []).map((v) => ({
          path: [err.validationContext, ...v.instancePath.split('/').filter(Boolean)].filter(Boolean).join('.'),
          message: v.message ?? 'is invalid',
        })),
      );
    default:
      break;
  }
  // A multipart body cut short (busboy/dicer): the client's fault, not ours (found by test/faults/fuzz.test.ts).
  if (!err.statusCode && /unexpected end of (multipart data|form)|malformed part header|multipart: boundary not found/i.test(err.message)) {
    return new GatewayError(ERRORS.BAD_REQUEST, [{ path: '(body)', message: err.message }]);
  }
  if (err instanceof SyntaxError || (err.statusCode === 400 && /JSON/i.test(err.message))) {
    return new GatewayError(ERRORS.MALFORMED_JSON, [{ path: '(body)', message: err.message }]);
  }
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return new GatewayError({ code: ERRORS.BAD_REQUEST.code, status: err.statusCode, message: err.message });
  }
  return new GatewayError(ERRORS.INTERNAL);
}

export class HttpServer {
  private app: FastifyInstance | null = null;
  private closing = false;
  private security: HttpSecurity | null = null;

  constructor(private readonly deps: HttpServerOptions) {}

  async start(): Promise<void> {
    const { config, log, access } = this.deps;
    const limits = config.limits;
    // Slow-loris: headers must arrive within http_headers_timeout_ms, checked every second.
    const serverOptions = { headersTimeout: limits.http_headers_timeout_ms, connectionsCheckingInterval: 1000, noDelay: true };
    const tls = config.tls.http ? this.deps.tls : undefined;
    const app = Fastify({
      ...(tls ? { https: { ...serverOptions, ...tls.credentials() } } : { http: serverOptions }),
      keepAliveTimeout: limits.http_keep_alive_timeout_ms,
      loggerInstance: log.child({ component: 'http' }) as FastifyBaseLogger,
      // Per-request logs would cost more than the ingest itself at thousands of reports/s.
      logController: new LogController({ disableRequestLogging: true }),
      bodyLimit: config.report.max_payload_bytes,
      requestTimeout: config.http.request_timeout_ms,
      // Our handlers answer every error in one shape; fastify's ajv is only used for
      // params and querystrings, without type coercion surprises.
      ajv: { customOptions: { coerceTypes: true, removeAdditional: false, allErrors: true } },
      // incident_id may be 128 characters; the default limit is 100.
      routerOptions: { maxParamLength: 160 },
    });

    // The same JSON parser as MQTT, and JSON only: a report in any other type is a 415.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
      try {
        if (body.length === 0) throw new GatewayError(ERRORS.MALFORMED_JSON, [{ path: '(body)', message: 'is empty' }]);
        done(null, parseJsonBody(body as Buffer));
      } catch (err) {
        done(err as Error, undefined);
      }
    });

    // A graceful stop must not wait out keep-alive: close each connection after its reply.
    app.addHook('onSend', async (_request, reply) => {
      if (this.closing) void reply.header('connection', 'close');
    });

    app.setErrorHandler((err: FastifyError | GatewayError, request, reply) => {
      const mapped = toGatewayError(err, config.report.max_payload_bytes);
      if (mapped.statusCode >= 500) request.log.error({ err }, 'request failed');
      void reply.status(mapped.statusCode).send(mapped.toJSON());
    });
    app.setNotFoundHandler((request, reply) => {
      void reply.status(404).send(new GatewayError(ERRORS.NOT_FOUND, [], `No endpoint ${request.method} ${request.url}`).toJSON());
    });

    // Roles and rate limits: before any route is registered, so each is checked for a role.
    this.security = registerHttpSecurity(app, access, config, log.child({ component: 'http-auth' }));

    await app.register(swagger, {
      openapi: {
        info: {
          title: 'SafeSphere Edge API',
          description: 'SafeSphere-compatible threat report ingest and incident API, served by the site gateway.',
          version: this.deps.version,
        },
      },
    });
    await app.register(swaggerUi, { routePrefix: '/docs' });
    // WebSocket support, registered once for every feature's /ws/* routes.
    if (!app.hasDecorator('websocketServer')) await app.register(websocket, { options: { maxPayload: 64 * 1024 } });

    await app.register(healthRoutes(this.deps));
    // Each feature registers its own routes, in module order.
    for (const module of this.deps.modules()) {
      if (module.routes) await app.register(async (scope) => void (await module.routes!(scope)));
    }

    await app.listen({ host: config.http.host, port: config.http.port });
    app.server.maxConnections = limits.http_max_connections;
    if (tls) tls.register('http', app.server as unknown as { setSecureContext(o: object): void });
    this.app = app;
  }

  async stop(): Promise<void> {
    const app = this.app;
    this.closing = true;
    await app?.close();
    this.app = null;
  }

  get port(): number {
    const addr = this.app?.server.address() as AddressInfo | null | undefined;
    return addr?.port ?? 0;
  }

  get isListening(): boolean {
    return this.app?.server.listening ?? false;
  }

  /** Every registered route with its declared role (null: none). */
  get routes(): RegisteredRoute[] {
    return this.security?.routes ?? [];
  }
}
