// The one schema behind the gateway's configuration. It drives validation, defaults,
// environment overrides (SAFESPHERE_<SECTION>_<KEY>) and the generated config/default.yaml.
import { Type, type Static, type TSchema } from '@sinclair/typebox';

export const LEVELS = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
export type ThreatLevel = (typeof LEVELS)[number];
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Ids that may become MQTT topic levels, file names and SQL values: no slashes, no wildcards. */
export const ID_PATTERN = '^[A-Za-z0-9_.:-]+$';

const obj = <T extends Record<string, TSchema>>(properties: T, description: string) =>
  Type.Object(properties, { description, default: {}, additionalProperties: false });

const ActionSpec = Type.Object(
  {
    type: Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$', description: 'Action type, matched by Node-RED flows.' }),
    description: Type.String({ maxLength: 256, description: 'Human-readable description stored on the action row.' }),
  },
  { additionalProperties: false },
);
export type ActionSpec = Static<typeof ActionSpec>;

const action = (type: string, description: string): ActionSpec => ({ type, description });

const LevelPolicy = (status: string, actions: ActionSpec[], weaponActions: ActionSpec[], description: string) =>
  obj(
    {
      status: Type.String({
        pattern: '^[A-Z][A-Z0-9_]{0,63}$',
        default: status,
        description: 'Status name stored as the incident\'s action_taken.',
      }),
      actions: Type.Array(ActionSpec, { maxItems: 32, default: actions, description: 'Actions planned for every report at this level.' }),
      weapon_actions: Type.Array(ActionSpec, {
        maxItems: 32,
        default: weaponActions,
        description: 'Extra actions planned when the report says a weapon was detected.',
      }),
    },
    description,
  );

export const ConfigSchema = Type.Object(
  {
    site_id: Type.String({
      pattern: ID_PATTERN,
      minLength: 1,
      maxLength: 64,
      default: 'site-1',
      description: 'This site\'s id, used in upstream sync and MQTT topics.',
    }),
    data_dir: Type.String({
      minLength: 1,
      default: './data',
      description: 'Directory for the SQLite database and other state. Created if missing.',
    }),
    http: obj(
      {
        host: Type.String({ default: '0.0.0.0', description: 'Address the HTTP API listens on.' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 8000, description: 'HTTP API port (0 picks a free port).' }),
        request_timeout_ms: Type.Integer({
          minimum: 1000,
          maximum: 600000,
          default: 30000,
          description: 'Requests taking longer than this are aborted.',
        }),
      },
      'HTTP API (SafeSphere-compatible endpoints, OpenAPI docs at /docs).',
    ),
    mqtt: obj(
      {
        host: Type.String({ default: '0.0.0.0', description: 'Address the embedded MQTT broker listens on.' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 1883, description: 'Embedded MQTT broker port (0 picks a free port).' }),
        max_packet_bytes: Type.Integer({
          minimum: 4096,
          maximum: 256 * 1024 * 1024,
          default: 2 * 1024 * 1024,
          description:
            'Largest MQTT packet read; a client announcing a bigger one is disconnected before it is buffered. ' +
            'Reports over report.max_payload_bytes but under this get a reject message instead.',
        }),
      },
      'Embedded MQTT broker (aedes). Cameras publish QoS 1 to safesphere/cameras/<camera_id>/threats.',
    ),
    report: obj(
      {
        max_payload_bytes: Type.Integer({
          minimum: 1024,
          maximum: 16 * 1024 * 1024,
          default: 256 * 1024,
          description: 'Largest accepted report, in bytes, over HTTP and MQTT.',
        }),
        max_string_length: Type.Integer({
          minimum: 16,
          maximum: 65536,
          default: 2048,
          description: 'Longest accepted behavior_summary and other free-text fields.',
        }),
        max_weapon_types: Type.Integer({ minimum: 1, maximum: 256, default: 16, description: 'Most entries accepted in weapon_types.' }),
        max_telemetry_depth: Type.Integer({
          minimum: 1,
          maximum: 64,
          default: 12,
          description: 'Deepest nesting accepted in full_telemetry.',
        }),
      },
      'Limits on incoming threat reports.',
    ),
    ingest: obj(
      {
        commit_window_ms: Type.Number({
          minimum: 0,
          maximum: 100,
          default: 2,
          description: 'Group commit: reports arriving within this many ms share one durable transaction.',
        }),
        commit_max_batch: Type.Integer({
          minimum: 1,
          maximum: 10000,
          default: 512,
          description: 'Group commit: a batch this large is committed without waiting for the window.',
        }),
        max_pending: Type.Integer({
          minimum: 1,
          maximum: 1000000,
          default: 20000,
          description: 'Reports waiting for a commit beyond this are refused (HTTP 503, MQTT no PUBACK) instead of growing memory.',
        }),
      },
      'The ingest pipeline shared by MQTT and HTTP.',
    ),
    log: obj(
      {
        level: Type.Unsafe<LogLevel>({
          type: 'string',
          enum: [...LOG_LEVELS],
          default: 'info',
          description: 'Log level: fatal, error, warn, info, debug, trace or silent.',
        }),
      },
      'JSON logs on stdout (pino).',
    ),
    shutdown: obj(
      {
        timeout_ms: Type.Integer({
          minimum: 100,
          maximum: 60000,
          default: 5000,
          description: 'Total time allowed for a graceful stop; each step that overruns is logged and skipped.',
        }),
      },
      'Graceful shutdown on SIGTERM/SIGINT.',
    ),
    policy: obj(
      {
        LOW: LevelPolicy('MONITOR', [], [], 'LOW: normal activity, logged only.'),
        MEDIUM: LevelPolicy(
          'ALERT_USER',
          [action('start_recording', 'Start recording (for evidence)'), action('alert_user', 'Alert user on mobile app')],
          [],
          'MEDIUM: suspicious activity.',
        ),
        HIGH: LevelPolicy(
          'ALERT_POLICE',
          [
            action('start_recording', 'Start recording (continuous)'),
            action('notify_police', 'Notify police/dispatch center'),
            action('notify_emergency_contacts', 'Notify emergency contacts'),
            action('share_location', 'Share live location'),
          ],
          [],
          'HIGH: high threat imminent, police response.',
        ),
        CRITICAL: LevelPolicy(
          'EMERGENCY_PROTOCOL',
          [
            action('police_dispatch', 'IMMEDIATE police dispatch (priority)'),
            action('continuous_recording', 'Continuous 360 degree recording'),
            action('live_location', 'Live location streaming to all contacts'),
            action('voice_alert', 'Voice alerts activated'),
            action('safe_route', 'Safe route to nearest police station'),
            action('notify_all_contacts', 'All emergency contacts notified immediately'),
          ],
          [action('armed_threat_escalation', 'Weapon detected: armed threat escalation')],
          'CRITICAL: full emergency protocol.',
        ),
      },
      'Action policy: what each final threat level sets in motion (the SafeSphere action handlers).',
    ),
  },
  { additionalProperties: false },
);

export type GatewayConfig = Static<typeof ConfigSchema>;
export type LevelPolicy = GatewayConfig['policy']['LOW'];
