// Wires access control and rate limits into fastify: every route declares the role it needs
// (`config: { role }`), one onRequest hook enforces it before the body is read, and a route
// registered without a role is logged and served to admin tokens only (fail closed);
// test/security-routes.test.ts fails while any route lacks one.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { GatewayConfig } from '../config/schema.js';
import { ERRORS, GatewayError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { AccessControl, Principal } from './access.js';
import { isLoopback } from './cidr.js';
import { RateLimiter } from './rate-limit.js';
import { ROUTE_ROLES, type RouteRole } from './roles.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The role a route requires; 'public' for open routes (see src/security/roles.ts). */
    role?: RouteRole;
  }
  interface FastifyRequest {
    /** Who made the request, set by the access hook (null before it ran). */
    principal: Principal | null;
  }
}

export interface RegisteredRoute {
  method: string;
  url: string;
  role: RouteRole | null;
}

/** Routes registered by plugins we do not own, and the role they get. */
const PLUGIN_ROUTE_ROLES: { prefix: string; role: RouteRole }[] = [{ prefix: '/docs', role: 'operator' }];

export interface HttpSecurity {
  /** Every route registered, with its declared role (null: none declared). */
  readonly routes: RegisteredRoute[];
  readonly limiter: RateLimiter;
}

export function registerHttpSecurity(app: FastifyInstance, access: AccessControl, config: GatewayConfig, log: Logger): HttpSecurity {
  const routes: RegisteredRoute[] = [];
  const limiter = new RateLimiter(config.limits.http_requests_per_s, config.limits.http_burst);
  app.decorateRequest('principal', null);

  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const cfg = (route.config ?? {}) as { role?: RouteRole };
    if (!cfg.role) {
      const plugin = PLUGIN_ROUTE_ROLES.find((p) => route.url === p.prefix || route.url.startsWith(`${p.prefix}/`));
      if (plugin) route.config = { ...cfg, role: plugin.role } as typeof route.config;
    }
    const role = ((route.config ?? {}) as { role?: RouteRole }).role ?? null;
    if (role !== null && !ROUTE_ROLES.includes(role)) throw new Error(`route ${route.url}: unknown role ${String(role)}`);
    if (role === null) log.warn({ url: route.url, methods }, 'route declares no role; only admin tokens may call it');
    for (const method of methods) routes.push({ method: String(method), url: route.url, role });
  });

  app.addHook('onRequest', async (request: FastifyRequest, reply) => {
    // Unknown URLs get their 404 without a token: it reveals nothing.
    if (request.is404) return;
    const role: RouteRole = request.routeOptions.config.role ?? 'admin';
    const query = request.query as { access_token?: unknown } | undefined;
    const given = typeof query?.access_token === 'string' && query.access_token ? query.access_token : null;
    // A token in a URL ends up in logs and browser history: only a WebSocket upgrade (a browser's
    // WebSocket cannot send headers; the dashboard's live feed is one) may carry it.
    const upgrade = String(request.headers.upgrade ?? '').toLowerCase() === 'websocket';
    if (given !== null && !upgrade && role !== 'public') {
      throw new GatewayError(ERRORS.UNAUTHORIZED, [
        { path: 'access_token', message: 'is accepted only on WebSocket upgrades (/ws/*); send "Authorization: Bearer <token>"' },
      ]);
    }
    const queryToken = upgrade ? given : null;
    const remote = request.socket.remoteAddress;
    request.principal = access.authorize(role, request.headers.authorization, remote, request.routeOptions.url ?? request.url, queryToken);
    if (!limiter.enabled || (config.limits.http_exempt_loopback && isLoopback(remote))) return;
    const wait = limiter.check(request.principal.key);
    if (wait > 0) {
      void reply.header('retry-after', String(Math.max(1, Math.ceil(wait / 1000))));
      throw new GatewayError(ERRORS.RATE_LIMITED, [
        { path: '(client)', message: `more than ${config.limits.http_requests_per_s} requests/s; retry in ${Math.ceil(wait)} ms` },
      ]);
    }
  });

  return { routes, limiter };
}
