import { pino, type Logger } from 'pino';
import type { LogLevel } from './config/schema.js';

export type { Logger };

/**
 * Secrets never reach the log, even when an object holding one is logged by mistake
 * (test/security-secrets.test.ts scans the logs for every configured secret).
 */
export const REDACT = {
  paths: [
    'authorization',
    'password',
    'token',
    'api_key',
    'password_hash',
    'credential_secret',
    '*.authorization',
    '*.password',
    '*.token',
    '*.api_key',
    '*.credential_secret',
    // Channel secrets (src/notify/), should a config section ever be logged.
    '*.app_token',
    '*.bot_token',
    '*.ack_secret',
    '*.*.password',
    '*.*.token',
    '*.*.app_token',
    '*.*.bot_token',
    '*.*.secret',
    'req.headers.authorization',
    'req.headers.cookie',
    'headers.authorization',
    'headers.cookie',
    '*.headers.authorization',
  ],
  censor: '[redacted]',
};

/** JSON logs on stdout; the destination is injectable so tests can capture lines. */
export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  const options = { level, base: { service: 'safesphere-edge' }, timestamp: pino.stdTimeFunctions.isoTime, redact: REDACT };
  return destination ? pino(options, destination) : pino(options);
}
