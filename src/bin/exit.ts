// Start-up failures as one line and a distinct exit code each (src/errors.ts EXIT): what is
// wrong, the config key and its environment variable, and what to do. No stack traces.
import type { GatewayConfig } from '../config/schema.js';
import { ConfigError } from '../config/load.js';
import { envName } from '../config/load.js';
import { EXIT } from '../errors.js';
import { DataDirError } from '../store/data-dir.js';
import { DataDirLockedError } from '../store/lock.js';
import { SchemaTooNewError, StoreOpenError } from '../store/store.js';
import { BackupError } from '../backup/archive.js';

export interface Failure {
  code: number;
  message: string;
}

/** The config keys that name a listening port, for an EADDRINUSE. */
function portKeys(config: GatewayConfig, port: number): string[] {
  const keys: [string, number, boolean][] = [
    ['http.port', config.http.port, true],
    ['mqtt.port', config.mqtt.port, true],
    ['mqtt.tls_port', config.mqtt.tls_port, config.tls.mqtt],
    ['mqtt.ws_port', config.mqtt.ws_port, config.mqtt.ws_enabled],
    ['nodered.port', config.nodered.port, config.nodered.enabled],
  ];
  return keys.filter(([, p, on]) => on && p === port).map(([key]) => key);
}

function find<T>(err: unknown, test: (e: unknown) => e is T): T | null {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) if (test(e)) return e;
  return null;
}

const isAddrInUse = (e: unknown): e is NodeJS.ErrnoException & { port?: number; address?: string } =>
  (e as NodeJS.ErrnoException)?.code === 'EADDRINUSE';

/** Maps an error thrown while starting (or by a command) to its exit code and one-line message; null: unexpected. */
export function classify(err: unknown, config: GatewayConfig | null): Failure | null {
  if (err instanceof ConfigError) return { code: EXIT.CONFIG, message: err.message };
  if (err instanceof DataDirLockedError) return { code: EXIT.DATA_DIR_LOCKED, message: err.message };
  if (err instanceof DataDirError) return { code: EXIT.DATA_DIR_UNWRITABLE, message: err.message };
  if (err instanceof SchemaTooNewError) return { code: EXIT.SCHEMA_TOO_NEW, message: err.message };
  if (err instanceof StoreOpenError) return { code: EXIT.DATA_DAMAGED, message: err.message };
  if (err instanceof BackupError) return { code: err.exitCode, message: err.message };
  const inUse = find(err, isAddrInUse);
  if (inUse) {
    const port = inUse.port ?? Number(/:(\d+)\s*$/.exec(inUse.message)?.[1] ?? NaN);
    const keys = config && Number.isFinite(port) ? portKeys(config, port) : [];
    const named = keys.length ? ` (${keys.map((k) => `${k}, ${envName(k.split('.'))}`).join('; ')})` : '';
    return {
      code: EXIT.PORT_IN_USE,
      message: `port ${Number.isFinite(port) ? port : '?'}${named} is in use: is another gateway running? Stop it, or set ${keys.length ? keys.join(' / ') : 'the port'} to a free port`,
    };
  }
  return null;
}
