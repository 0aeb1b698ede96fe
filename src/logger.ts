import { pino, type Logger } from 'pino';
import type { LogLevel } from './config/schema.js';

export type { Logger };

/** JSON logs on stdout; the destination is injectable so tests can capture lines. */
export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  const options = { level, base: { service: 'safesphere-edge' }, timestamp: pino.stdTimeFunctions.isoTime };
  return destination ? pino(options, destination) : pino(options);
}
