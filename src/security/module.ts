// Access control and TLS: right after the store's check, so a bad token file or certificate
// stops the start before anything listens. The AccessControl itself lives in the module context (every
// module that registers routes declares roles against it); this module starts it.
import type { Module, ModuleContext } from '../module.js';
import { TlsManager } from './tls.js';

declare module '../module.js' {
  interface Exports {
    /** TLS material for every TLS listener (HTTP, MQTT, MQTT over WebSocket, the editor). */
    tls: TlsManager;
  }
}

export function create(ctx: ModuleContext): Module {
  const { config, access } = ctx;
  const tls = new TlsManager(config.tls, ctx.logger('tls'));
  ctx.provide('tls', tls);
  return {
    name: 'auth',
    start: () => access.start(),
    stop: () => access.stop(),
    // SIGHUP: new certificates without a restart.
    reload: () => ({ tls: tls.reload() }),
    banner: () => [
      `Auth            : bearer tokens (loopback ${config.auth.trust_loopback ? 'trusted' : 'not trusted'})` +
        (access.adminTokenFile ? `; admin token in ${access.adminTokenFile}` : ''),
    ],
  };
}
