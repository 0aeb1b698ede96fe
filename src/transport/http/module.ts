// The HTTP API (fastify): last in the list, so it serves only once every feature has started;
// it registers each module's routes, /health from every module's health, and the API docs.
import type { Module, ModuleContext } from '../../module.js';
import { HttpServer } from './server.js';

declare module '../../module.js' {
  interface Exports {
    http: HttpServer;
  }
}

export function create(ctx: ModuleContext): Module {
  const http = new HttpServer({
    config: ctx.config,
    log: ctx.log,
    version: ctx.version,
    health: ctx.health,
    access: ctx.access,
    tls: ctx.use('tls'),
    modules: () => ctx.modules(),
  });
  ctx.provide('http', http);
  return {
    name: 'http',
    start: () => http.start(),
    stop: () => http.stop(),
    banner: (at) => [`HTTP API        : ${at.http}   docs ${at.http}/docs   health ${at.http}/health`],
  };
}
