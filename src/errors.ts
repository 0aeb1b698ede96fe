// Coded errors with an HTTP status, so every client (HTTP or MQTT) gets a stable, clear error.
export interface ErrorDetail {
  path: string;
  message: string;
}

export interface ErrorCode {
  code: string;
  status: number;
  message: string;
}

const define = (code: string, status: number, message: string): ErrorCode => ({ code, status, message });

export const ERRORS = {
  INVALID_REPORT: define('INVALID_REPORT', 422, 'The threat report is invalid'),
  MALFORMED_JSON: define('MALFORMED_JSON', 400, 'The body is not valid JSON'),
  PAYLOAD_TOO_LARGE: define('PAYLOAD_TOO_LARGE', 413, 'The payload is larger than the configured limit'),
  UNSUPPORTED_MEDIA_TYPE: define('UNSUPPORTED_MEDIA_TYPE', 415, 'Send the report as application/json'),
  INCIDENT_CONFLICT: define('INCIDENT_CONFLICT', 409, 'This incident_id was already reported with different content'),
  INCIDENT_NOT_FOUND: define('INCIDENT_NOT_FOUND', 404, 'No incident with this id'),
  INVALID_LABEL: define('INVALID_LABEL', 422, 'The label is invalid'),
  BAD_REQUEST: define('BAD_REQUEST', 400, 'The request is invalid'),
  NOT_FOUND: define('NOT_FOUND', 404, 'No such endpoint'),
  OVERLOADED: define('OVERLOADED', 503, 'The gateway is overloaded; retry shortly'),
  SHUTTING_DOWN: define('SHUTTING_DOWN', 503, 'The gateway is shutting down; retry shortly'),
  STORAGE_FULL: define('STORAGE_FULL', 507, 'The gateway\'s storage is full; the report was not stored'),
  STORAGE_FAILED: define('STORAGE_FAILED', 500, 'The report could not be stored'),
  INTERNAL: define('INTERNAL', 500, 'Internal error'),
  UNAUTHORIZED: define('UNAUTHORIZED', 401, 'A valid bearer token is required'),
  FORBIDDEN: define('FORBIDDEN', 403, 'The token does not grant this role'),
  RATE_LIMITED: define('RATE_LIMITED', 429, 'Too many requests from this client; retry after the Retry-After seconds'),
  SYNC_DISABLED: define(
    'SYNC_DISABLED',
    503,
    'The sync pull API is off: set sync.token or sync.token_file (env SAFESPHERE_SYNC_TOKEN / SAFESPHERE_SYNC_TOKEN_FILE) and restart',
  ),
  BAD_CURSOR: define('BAD_CURSOR', 400, 'The sync cursor is invalid'),
  SYNC_ACK_AHEAD: define('SYNC_ACK_AHEAD', 409, 'The ack is ahead of what was served'),
  // Evidence snapshots (src/evidence/).
  INVALID_SNAPSHOT: define('INVALID_SNAPSHOT', 400, 'The snapshot upload is invalid'),
  UNSUPPORTED_IMAGE: define('UNSUPPORTED_IMAGE', 415, 'The snapshot is not a decodable JPEG, PNG or WebP image'),
  IMAGE_TOO_LARGE: define('IMAGE_TOO_LARGE', 413, 'The snapshot is larger than the configured bytes or pixels'),
  SNAPSHOT_CONFLICT: define('SNAPSHOT_CONFLICT', 409, 'This incident already has a different snapshot'),
  SNAPSHOT_NOT_FOUND: define('SNAPSHOT_NOT_FOUND', 404, 'This incident has no snapshot'),
  // Site operations (src/operations/).
  NO_SAFE_ROUTE: define('NO_SAFE_ROUTE', 409, 'No exit can be reached without crossing a zone with an active HIGH or CRITICAL incident'),
  UNKNOWN_ZONE: define('UNKNOWN_ZONE', 404, 'No zone with this id on the site map'),
  NO_SITE_MAP: define('NO_SITE_MAP', 404, 'No site map is configured (site.map.exits and site.map.links)'),
  INVALID_STATUS: define('INVALID_STATUS', 422, 'The status change is invalid'),
  // Report sources (src/frigate/, src/onvif/): refusals are counted per source and shown in /health.
  INVALID_SOURCE_EVENT: define('INVALID_SOURCE_EVENT', 422, 'The source\'s event does not have the documented shape'),
  UNKNOWN_SEVERITY: define('UNKNOWN_SEVERITY', 422, 'The Frigate review\'s severity is neither alert nor detection'),
  XML_DTD_REFUSED: define('XML_DTD_REFUSED', 400, 'XML with a document type declaration or entity is refused (SOAP forbids a DTD)'),
  ONVIF_AUTH_FAILED: define('ONVIF_AUTH_FAILED', 401, 'The camera refused the ONVIF credentials'),
  ONVIF_UNREACHABLE: define('ONVIF_UNREACHABLE', 503, 'The camera does not answer ONVIF requests'),
  BAD_SOURCE_FILTER: define('BAD_SOURCE_FILTER', 400, 'Unknown source: use threat_cv, mqtt, http, frigate or onvif'),
  // Identity and integrity (issue 21).
  CAMERA_NOT_ALLOWED: define('CAMERA_NOT_ALLOWED', 403, 'This credential may not report for this camera'),
  DUPLICATE_KEY: define('DUPLICATE_KEY', 400, 'The JSON body repeats a key'),
  // Arming (src/arming/).
  INVALID_ARMING: define('INVALID_ARMING', 422, 'The arming change is invalid'),
  ARMING_PIN_WRONG: define('ARMING_PIN_WRONG', 403, 'Disarming needs the correct PIN'),
  ARMING_PIN_LOCKED: define('ARMING_PIN_LOCKED', 429, 'Too many wrong PINs; PINs are refused for a while'),
} as const;

export class GatewayError extends Error {
  readonly code: string;
  readonly statusCode: number;
  constructor(
    spec: ErrorCode,
    readonly details: ErrorDetail[] = [],
    message?: string,
  ) {
    super(message ?? spec.message);
    this.name = 'GatewayError';
    this.code = spec.code;
    this.statusCode = spec.status;
  }

  toJSON(): { error: { code: string; message: string; details: ErrorDetail[] } } {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

/**
 * The daemon's and the commands' exit codes (sysexits.h where one fits). The README's
 * Troubleshooting table lists each with its message and fix; systemd's
 * RestartPreventExitStatus lists those a restart cannot fix.
 */
export const EXIT = {
  /** Stopped cleanly, or a command succeeded. */
  OK: 0,
  /** Anything unexpected: restarted by systemd. */
  FAILURE: 1,
  /** EX_USAGE: a bad command line. */
  USAGE: 64,
  /** EX_DATAERR: the database (or a backup archive) is damaged, as quick_check / the manifest say. */
  DATA_DAMAGED: 65,
  /** EX_UNAVAILABLE: a port is in use (another gateway, or another program). */
  PORT_IN_USE: 69,
  /** EX_CANTCREAT: the data dir (or the database in it) cannot be written. */
  DATA_DIR_UNWRITABLE: 73,
  /** EX_TEMPFAIL: another gateway (or command) holds the data-dir lock. */
  DATA_DIR_LOCKED: 75,
  /** EX_CONFIG: the configuration (file or environment) is invalid. */
  CONFIG: 78,
  /** The database was written by a newer release; refused untouched. */
  SCHEMA_TOO_NEW: 79,
} as const;

/** Exit codes systemd must not restart on: the same start would fail the same way. */
export const EXIT_NO_RESTART = [EXIT.USAGE, EXIT.DATA_DAMAGED, EXIT.DATA_DIR_UNWRITABLE, EXIT.CONFIG, EXIT.SCHEMA_TOO_NEW] as const;
