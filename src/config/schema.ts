// The one schema behind the gateway's configuration. It drives validation, defaults,
// environment overrides (SAFESPHERE_<SECTION>_<KEY>) and the generated config/default.yaml.
import { Type, type Static, type TSchema } from '@sinclair/typebox';

export const LEVELS = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;

/** The HTTP roles (src/security/roles.ts gives them their meaning); defined here, with the config's other vocabularies. */
export const ROLES = ['camera', 'operator', 'sync', 'admin', 'signage'] as const;
export type Role = (typeof ROLES)[number];
export type ThreatLevel = (typeof LEVELS)[number];
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Where an incident came from (incidents.source). `mqtt` and `http` keep their first meaning, a
 * threat_cv report over that transport; `frigate` and `onvif` are the report sources of
 * src/frigate/ and src/onvif/.
 */
export const SOURCES = ['mqtt', 'http', 'frigate', 'onvif'] as const;
export type IncidentSource = (typeof SOURCES)[number];
/** What a `source` filter may name: one source, or `threat_cv` for both of its transports. */
export const SOURCE_FILTERS: Readonly<Record<string, readonly IncidentSource[]>> = {
  threat_cv: ['mqtt', 'http'],
  mqtt: ['mqtt'],
  http: ['http'],
  frigate: ['frigate'],
  onvif: ['onvif'],
};

/** Ids that may become MQTT topic levels, file names and SQL values: no slashes, no wildcards. */
export const ID_PATTERN = '^[A-Za-z0-9_.:-]+$';
/** A camera id, or "*" for any camera (a credential's camera scope). */
export const CAMERA_SCOPE_PATTERN = '^(\\*|[A-Za-z0-9_.:-]+)$';

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

/** Arming modes, with Home Assistant's alarm_control_panel names (src/arming/). */
export const ARMING_MODES = ['disarmed', 'armed_home', 'armed_away', 'armed_night', 'armed_vacation'] as const;
export type ArmingMode = (typeof ARMING_MODES)[number];
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

const armingModeSchema = (defaultMode: ArmingMode, description: string) =>
  Type.Unsafe<ArmingMode>({ type: 'string', enum: [...ARMING_MODES], default: defaultMode, description });

/** Per level, the action types a mode keeps from the policy's plan ("*": all of them). */
const ModePolicy = (defaults: Record<ThreatLevel, string[]>, description: string) =>
  obj(
    Object.fromEntries(
      LEVELS.map((level) => [
        level,
        Type.Array(Type.String({ pattern: '^(\\*|[a-z][a-z0-9_]{0,63})$' }), {
          maxItems: 64,
          default: defaults[level],
          description: `Action types kept for a ${level} report in this mode ("*": every action the policy plans at ${level}).`,
        }),
      ]),
    ) as Record<ThreatLevel, ReturnType<typeof Type.Array<ReturnType<typeof Type.String>>>>,
    description,
  );
const ALL_ACTIONS: Record<ThreatLevel, string[]> = { LOW: ['*'], MEDIUM: ['*'], HIGH: ['*'], CRITICAL: ['*'] };
const HH_MM = '^(([01]\\d|2[0-3]):[0-5]\\d|24:00)$';
// One key per channel, so a bad channel's error names its key (contacts.0.channels.1.email).
const ContactChannel = Type.Object(
  {
    email: Type.Optional(Type.String({ pattern: '^[^@\\s]+@[^@\\s]+$', maxLength: 254, description: 'E-mail address.' })),
    ntfy: Type.Optional(Type.String({ pattern: '^[-_A-Za-z0-9]{1,64}$', description: 'ntfy topic.' })),
    pushover: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9]{30}$', description: 'Pushover user or group key (30 characters).' })),
    telegram: Type.Optional(Type.String({ pattern: '^-?[0-9]{1,20}$|^@[A-Za-z0-9_]{5,32}$', description: 'Telegram chat id (or @channel).' })),
    webhook: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$', maxLength: 2048, description: 'URL the JSON body is POSTed to.' })),
  },
  { additionalProperties: false, minProperties: 1, maxProperties: 1 },
);
export type ContactChannel = Static<typeof ContactChannel>;
export const CHANNEL_KINDS = ['email', 'ntfy', 'pushover', 'telegram', 'webhook'] as const;

const arcCode = (sia: string, cid: number, description: string) =>
  obj(
    {
      sia: Type.String({ pattern: '^[A-Z]{2}$', default: sia, description: 'SIA event code (two letters).' }),
      cid: Type.Integer({ minimum: 100, maximum: 999, default: cid, description: 'Contact ID event code.' }),
    },
    description,
  );

const EscalationSteps = (level: string) =>
  Type.Array(
    Type.Object(
      {
        at_s: Type.Number({ minimum: 0, maximum: 7 * 86400, description: 'Seconds after the incident was received.' }),
        notify: Type.Array(Type.String({ pattern: ID_PATTERN, maxLength: 64 }), { minItems: 1, maxItems: 100, description: 'Contact ids.' }),
      },
      { additionalProperties: false },
    ),
    { default: [], maxItems: 32, description: `Escalation steps for ${level} incidents, in time order.` },
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
          // 8 MiB: room for a snapshot of up to snapshots.max_bytes (6 MiB) on safesphere/cameras/<id>/snapshots/<incident_id>.
          default: 8 * 1024 * 1024,
          description:
            'Largest MQTT packet read; a client announcing a bigger one is disconnected before it is buffered. ' +
            'Reports over report.max_payload_bytes (snapshots over snapshots.max_bytes) but under this get a reject message instead. ' +
            'Keep it above snapshots.max_bytes so cameras can publish snapshots.',
        }),
        allow_anonymous_loopback: Type.Boolean({
          default: true,
          description:
            'Let clients on loopback (127.0.0.0/8, ::1) connect without a username, with full access, so mosquitto_pub on the gateway ' +
            'itself and Node-RED\'s mqtt nodes work. Every other connection needs an account from mqtt.accounts.',
        }),
        accounts: Type.Array(
          Type.Object(
            {
              username: Type.String({ pattern: ID_PATTERN, minLength: 1, maxLength: 64, description: 'MQTT username; a camera\'s is its camera id unless camera_id is set.' }),
              password_hash: Type.String({
                pattern: '^\\$2[aby]\\$\\d{2}\\$.{53}$',
                description: 'bcrypt hash of the password (safesphere-edge --hash-password).',
              }),
              role: Type.Unsafe<'camera' | 'siren' | 'recorder' | 'keypad' | 'signage' | 'admin'>({
                type: 'string',
                enum: ['camera', 'siren', 'recorder', 'keypad', 'signage', 'admin'],
                description:
                  'camera: publish only to safesphere/cameras/<id>/#, subscribe only to its own topics; siren/recorder: subscribe only to ' +
                  'safesphere/<sirens|recorders>/<id>/set, publish only to safesphere/<sirens|recorders>/<id>/state; keypad: publish only to ' +
                  'safesphere/gateway/arming/set, subscribe only to safesphere/gateway/arming/# and safesphere/gateway/status; ' +
                  'signage: subscribe only to safesphere/routes/# and safesphere/gateway/status, publish nothing; admin: every topic.',
              }),
              id: Type.String({ pattern: '^[A-Za-z0-9_.:-]*$', maxLength: 64, default: '', description: 'Camera or device id. Empty: the username.' }),
              cameras: Type.Array(Type.String({ pattern: ID_PATTERN, minLength: 1, maxLength: 64 }), {
                default: [],
                maxItems: 1024,
                description:
                  'camera role: every camera id this account publishes as (each its own safesphere/cameras/<id>/# topics), for a ' +
                  'device that relays several cameras. Empty: the one camera id (id, else the username).',
              }),
            },
            { additionalProperties: false },
          ),
          { default: [], maxItems: 10000, description: 'MQTT accounts (cameras, sirens, recorders, integrations), passwords stored as bcrypt hashes.' },
        ),
        tls_port: Type.Integer({
          minimum: 0,
          maximum: 65535,
          default: 8883,
          description: 'MQTT over TLS port, served when tls.mqtt is true (0 picks a free port).',
        }),
        ws_enabled: Type.Boolean({ default: false, description: 'Serve MQTT over WebSocket on ws_port (path /mqtt); over TLS when tls.mqtt_ws is true.' }),
        ws_port: Type.Integer({ minimum: 0, maximum: 65535, default: 8083, description: 'MQTT over WebSocket port (0 picks a free port).' }),
        connect_timeout_ms: Type.Integer({
          minimum: 500,
          maximum: 120000,
          default: 10000,
          description: 'A connection that has not sent CONNECT within this time is closed (slow-loris).',
        }),
      },
      'Embedded MQTT broker (aedes). Cameras publish QoS 1 to safesphere/cameras/<camera_id>/threats.',
    ),
    auth: obj(
      {
        enabled: Type.Boolean({
          default: true,
          description: 'Require a bearer token (or a trusted network below) on every HTTP route but /health and the docs redirect.',
        }),
        tokens: Type.Array(
          Type.Object(
            {
              name: Type.String({ pattern: ID_PATTERN, minLength: 1, maxLength: 64, description: 'Who holds it (shown in logs, never the token).' }),
              role: Type.Unsafe<Role>({
                type: 'string',
                enum: [...ROLES],
                description: 'camera: report and upload; operator: read, label, acknowledge, dashboard; sync: pull and ack; admin: everything; ' +
                  'signage: read safe routes only (GET /api/routes, WS /ws/navigation), for displays.',
              }),
              sha256: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256 (hex) of the token (safesphere-edge --create-token <role>).' }),
              cameras: Type.Array(Type.String({ pattern: CAMERA_SCOPE_PATTERN, minLength: 1, maxLength: 64 }), {
                default: [],
                maxItems: 1024,
                description:
                  'camera role: the camera ids this token reports as; a report naming another camera_id gets 403, one without a camera_id ' +
                  'gets the token\'s camera (when it has one). "*": any camera (a relay; logged as a warning). Empty: the token\'s name is its camera id.',
              }),
            },
            { additionalProperties: false },
          ),
          { default: [], maxItems: 10000, description: 'Bearer tokens, stored only as hashes. Create one with safesphere-edge --create-token <role> [--name N].' },
        ),
        admin_token_file: Type.String({
          default: '',
          description:
            'File holding an admin token. Empty and no admin token in auth.tokens: a first start generates one into ' +
            '<data_dir>/admin-token (mode 0600) and logs the path.',
        }),
        trust_loopback: Type.Boolean({
          default: true,
          description: 'Clients on loopback may report (camera role) and read, label and acknowledge (operator role) without a token.',
        }),
        camera_networks: Type.Array(
          Type.Union([
            Type.String({ maxLength: 64 }),
            Type.Object(
              {
                network: Type.String({ minLength: 1, maxLength: 64, description: 'CIDR or address, e.g. 10.20.0.11/32 or 10.20.0.0/24.' }),
                cameras: Type.Array(Type.String({ pattern: CAMERA_SCOPE_PATTERN, minLength: 1, maxLength: 64 }), {
                  minItems: 1,
                  maxItems: 1024,
                  description: 'Camera ids a client in this network may report as; "*": any. One id: reports without a camera_id get it.',
                }),
              },
              { additionalProperties: false },
            ),
          ]),
          {
            default: [],
            description:
              'Networks whose clients may report (camera role) without a token, each with the cameras it may report as: ' +
              '{ network: 10.20.0.11/32, cameras: [cam-1] } (an unchanged threat_cv engine that sends no camera_id gets cam-1). ' +
              'A bare CIDR string trusts the network for any camera id (logged as a warning).',
          },
        ),
      },
      'HTTP authentication: bearer tokens with roles, and the networks trusted without one.',
    ),
    tls: obj(
      {
        cert_file: Type.String({ default: '', description: 'PEM certificate (chain) for every TLS listener. Reloaded on SIGHUP.' }),
        key_file: Type.String({ default: '', description: 'PEM private key. Reloaded on SIGHUP.' }),
        http: Type.Boolean({ default: false, description: 'Serve the HTTP API over HTTPS (on http.port).' }),
        mqtt: Type.Boolean({ default: false, description: 'Add an MQTT over TLS listener on mqtt.tls_port (8883).' }),
        mqtt_ws: Type.Boolean({ default: false, description: 'Serve MQTT over WebSocket as wss:// (mqtt.ws_enabled).' }),
        nodered: Type.Boolean({ default: false, description: 'Serve the Node-RED editor over HTTPS.' }),
      },
      'TLS from certificate and key files, per listener.',
    ),
    limits: obj(
      {
        http_requests_per_s: Type.Number({
          minimum: 0,
          maximum: 1000000,
          default: 200,
          description: 'Sustained HTTP requests per second per client (per token, else per IP); 429 beyond. 0: no limit.',
        }),
        http_burst: Type.Integer({ minimum: 1, maximum: 1000000, default: 400, description: 'HTTP requests a client may send at once above the rate.' }),
        http_exempt_loopback: Type.Boolean({
          default: true,
          description: 'Do not rate-limit HTTP clients on loopback (local tools, benchmarks).',
        }),
        http_max_connections: Type.Integer({ minimum: 1, maximum: 1000000, default: 1024, description: 'Most open HTTP connections; more are refused.' }),
        http_headers_timeout_ms: Type.Integer({
          minimum: 500,
          maximum: 600000,
          default: 10000,
          description: 'A client must send its request headers within this time (slow-loris).',
        }),
        http_keep_alive_timeout_ms: Type.Integer({ minimum: 100, maximum: 600000, default: 5000, description: 'Idle keep-alive connections close after this.' }),
        mqtt_publishes_per_s: Type.Number({
          minimum: 0,
          maximum: 1000000,
          default: 500,
          description: 'Sustained MQTT publishes per second per client; a faster client is slowed down (its socket is not read), never dropped. 0: no limit.',
        }),
        mqtt_burst: Type.Integer({ minimum: 1, maximum: 1000000, default: 100, description: 'MQTT publishes a client may send at once above the rate.' }),
        mqtt_max_connections: Type.Integer({ minimum: 1, maximum: 1000000, default: 2048, description: 'Most open MQTT connections (all listeners); more are refused.' }),
        auth_free_failures: Type.Integer({
          minimum: 0,
          maximum: 1000,
          default: 3,
          description: 'Wrong passwords (MQTT, the Node-RED editor) a client address or a username may make before each further check is delayed.',
        }),
        auth_delay_base_ms: Type.Integer({
          minimum: 0,
          maximum: 600000,
          default: 500,
          description: 'First delay after the free failures; doubled with each further failure, up to auth_delay_max_ms.',
        }),
        auth_delay_max_ms: Type.Integer({ minimum: 0, maximum: 3600000, default: 30000, description: 'Longest delay before a password check.' }),
        auth_failure_window_s: Type.Integer({
          minimum: 1,
          maximum: 86400,
          default: 900,
          description: 'A client address or username with no wrong password for this long starts again with free failures.',
        }),
        auth_max_concurrent: Type.Integer({
          minimum: 1,
          maximum: 64,
          default: 1,
          description: 'Password checks (bcrypt, off the event loop) running at once; more wait in a queue. 1 leaves the other cores to the cameras.',
        }),
        auth_max_queued: Type.Integer({
          minimum: 0,
          maximum: 100000,
          default: 64,
          description: 'Password checks waiting beyond this are refused at once (MQTT CONNACK 3, editor 429), without a check.',
        }),
        auth_max_pending_per_address: Type.Integer({
          minimum: 1,
          maximum: 10000,
          default: 8,
          description: 'Logins from one address waiting for their (delayed) check at once; more are refused at once.',
        }),
      },
      'Abuse limits: per-client rates, connection caps and timeouts. Body and packet sizes: report.max_payload_bytes, mqtt.max_packet_bytes.',
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
    zones: Type.Array(
      Type.Object(
        {
          id: Type.String({ pattern: ID_PATTERN, minLength: 1, maxLength: 64, description: 'Zone id.' }),
          cameras: Type.Array(Type.String({ pattern: ID_PATTERN, minLength: 1, maxLength: 64 }), {
            maxItems: 1024,
            description: 'Camera ids in this zone.',
          }),
          risk: Type.Number({
            minimum: 0,
            maximum: 1,
            default: 0.5,
            description: 'How sensitive the zone is, 0..1 (0.5 neutral); a re-scoring feature.',
          }),
          name: Type.Optional(Type.String({ maxLength: 128, description: 'Name shown on the dashboard\'s site map.' })),
          x: Type.Optional(Type.Number({ description: 'Position on the site plan (metres east), for the dashboard\'s site map.' })),
          y: Type.Optional(Type.Number({ description: 'Position on the site plan (metres south), for the dashboard\'s site map.' })),
        },
        { additionalProperties: false },
      ),
      {
        default: [],
        maxItems: 256,
        description:
          'Areas of the site and the cameras watching them. Re-scoring counts agreeing cameras within a zone and ' +
          'reads its risk; the action stage maps devices to zones. A camera belongs to at most one zone.',
      },
    ),
    scoring: obj(
      {
        enabled: Type.Boolean({
          default: true,
          description: 'Re-score reports with the local ONNX model. Off: the camera\'s own level and score are final.',
        }),
        model_dir: Type.String({
          minLength: 1,
          default: './models',
          description: 'Directory holding rescorer.onnx and rescorer.json; watched, and a new pair is loaded without a restart.',
        }),
        watch: Type.Boolean({ default: true, description: 'Watch model_dir and hot-swap a new valid model pair.' }),
        mode: Type.Union([Type.Literal('shadow'), Type.Literal('active')], {
          default: 'active',
          description:
            'active: the model\'s level (within the floor) is final. shadow: the camera\'s level is final and the model\'s is only ' +
            'stored (model_level, model_probability) for npm run evaluate and GET /model/evaluation; a new site starts here.',
        }),
        firearm_terms: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
          maxItems: 200,
          default: [],
          description: 'Extra names of firearms (a local model\'s class names, a brand) added to the built-in vocabulary of the firearm floor.',
        }),
        intra_op_threads: Type.Integer({
          minimum: 1,
          maximum: 16,
          default: 1,
          description: 'onnxruntime intra-op threads. The model is tiny; 1 leaves the other cores to ingest.',
        }),
        timeout_ms: Type.Integer({
          minimum: 1,
          maximum: 10000,
          default: 100,
          description: 'A batch whose inference takes longer is committed with the reported levels; the model runs in a worker thread.',
        }),
        corroboration_window_s: Type.Number({
          minimum: 1,
          maximum: 3600,
          default: 60,
          description: 'Reports from other cameras of the same zone within this many seconds corroborate a report.',
        }),
        repeat_window_s: Type.Number({
          minimum: 1,
          maximum: 3600,
          default: 120,
          description: 'Earlier reports from the same camera within this many seconds count as repeats.',
        }),
        false_alarm_window_days: Type.Number({
          minimum: 1,
          maximum: 3650,
          default: 30,
          description: 'Labels newer than this give each camera\'s false-alarm rate.',
        }),
        default_zone_risk: Type.Number({
          minimum: 0,
          maximum: 1,
          default: 0.5,
          description: 'Zone risk of a camera that is in no zone.',
        }),
        floor: obj(
          {
            firearm_min_high: Type.Boolean({ default: true, description: 'A report naming a firearm never ends below HIGH.' }),
            max_drop_levels: Type.Integer({
              minimum: 0,
              maximum: 3,
              default: 1,
              description: 'The model may lower a report by at most this many levels (0: never lower).',
            }),
            keep_critical_without_false_alarms: Type.Boolean({
              default: true,
              description: 'A CRITICAL report from a camera with no false-alarm label in false_alarm_window_days is never lowered.',
            }),
            max_raise_levels: Type.Integer({
              minimum: 0,
              maximum: 3,
              default: 1,
              description: 'The model may raise a report by at most this many levels (0: never raise).',
            }),
          },
          'The safety floor: limits on what the model may change, applied after it.',
        ),
      },
      'Local re-scoring: an ONNX model re-judges each report with context the camera cannot see.',
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
    memory: obj(
      {
        idle_collect: Type.Boolean({
          default: true,
          description:
            "Give a burst's memory back: once the gateway's thread (and Node-RED's) has been idle for idle_after_ms and its heap has grown collect_growth_mb, run a full garbage collection there, and a follow-up 6 s later (when V8 gives back the young generation). Each thread also collects once at the end of its start-up, before the daemon reports ready. Node never collects while idle, so without this the heap a burst grew stays grown. A collection took 15-30 ms in the daemon after issue 19's bench (its log line gives ms); it runs only while nothing happens.",
        }),
        idle_after_ms: Type.Integer({ minimum: 500, maximum: 600000, default: 3000, description: 'How long a thread must be idle (event loop under 5 % busy) before it collects.' }),
        collect_growth_mb: Type.Integer({ minimum: 1, maximum: 4096, default: 16, description: 'Collect only when the heap has grown this much since the last collection.' }),
        nodered_young_generation_mb: Type.Integer({
          minimum: 0,
          maximum: 256,
          default: 16,
          description:
            "The Node-RED thread's V8 young generation, in MB (nodered.isolation: worker). V8's default lets it grow to 48 MB and keeps what it grew. 0: V8's default.",
        }),
        sqlite_cache_mb: Type.Integer({
          minimum: 1,
          maximum: 1024,
          default: 4,
          description: "SQLite's page cache for the store's connection, in MB. The OS caches the database file too, so a miss costs a read() from memory, not the disk.",
        }),
        mqtt_number_cache: Type.Boolean({
          default: false,
          description: "mqtt-packet's cache of 65,536 pre-built number Buffers, about 6 MB in each thread that speaks MQTT. Off: each packet's numbers are written as they come.",
        }),
      },
      'How the gateway trades memory for speed: a Raspberry Pi shares 1 to 8 GB between everything on it.',
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
    backup: obj(
      {
        dir: Type.String({
          default: '',
          description: 'Where scheduled backups are written. Empty: <data_dir>/backups (better: a USB disk or a network mount, not the SD card).',
        }),
        interval_h: Type.Number({
          minimum: 0,
          maximum: 8760,
          default: 0,
          description: 'Hours between scheduled backups (safesphere-backup-<site>-<time>.tar.gz, as `safesphere-edge backup` writes). 0: off.',
        }),
        keep: Type.Integer({ minimum: 1, maximum: 1000, default: 7, description: 'Scheduled backups kept in backup.dir; older ones are deleted.' }),
      },
      'Scheduled online backups of the database, snapshots, flows and generated secrets.',
    ),
    nodered: obj(
      {
        enabled: Type.Boolean({ default: true, description: 'Run the embedded Node-RED that carries out actions. Off: actions stay pending.' }),
        host: Type.String({
          default: '127.0.0.1',
          description:
            'Address the Node-RED editor listens on. Loopback by default: the editor can change what every alarm does, so it is not ' +
            'offered to the whole network; reach it with ssh -L 1880:localhost:1880, or name the LAN address in lan_host.',
        }),
        lan_host: Type.String({
          default: '',
          description:
            'A second address the editor also listens on, e.g. the gateway\'s address on the installers\' LAN (192.168.1.20). ' +
            'Empty: only host.',
        }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 1880, description: 'Node-RED editor port (0 picks a free port).' }),
        admin_users: Type.Array(
          Type.Object(
            {
              username: Type.String({ minLength: 1, maxLength: 64 }),
              password_hash: Type.String({ pattern: '^\\$2[aby]\\$\\d{2}\\$.{53}$', description: 'bcrypt hash' }),
              permissions: Type.Union([Type.Literal('*'), Type.Literal('read')], { default: '*' }),
            },
            { additionalProperties: false },
          ),
          {
            default: [],
            description:
              'Editor logins, with bcrypt password hashes (safesphere-edge --hash-password). Empty: a first start ' +
              'generates an admin password into <data_dir>/node-red-admin-password (readable only by the service user).',
          },
        ),
        credential_secret: Type.String({
          default: '',
          description: 'Key that encrypts flow credentials. Empty: a generated key kept in <data_dir>/node-red/.credential-secret.',
        }),
        flows_file: Type.String({
          default: '',
          description: 'Default flows seeded on first start. Empty: the shipped flows/flows.json.',
        }),
        start_timeout_ms: Type.Integer({
          minimum: 1000,
          maximum: 120000,
          default: 30000,
          description: 'Longest wait for Node-RED to load its nodes and start the flows.',
        }),
        isolation: Type.Unsafe<'worker' | 'in-process'>({
          type: 'string',
          enum: ['worker', 'in-process'],
          default: 'worker',
          description:
            'worker: Node-RED runs in its own thread (another core), so a flow that throws, loops or dies never blocks ingest; ' +
            'the gateway restarts it and re-dispatches what it had in flight. in-process: on the ingest thread, as before.',
        }),
        worker_stall_ms: Type.Integer({
          minimum: 500,
          maximum: 600000,
          default: 10000,
          description: 'isolation worker: a Node-RED thread that answers no heartbeat for this long (a flow stuck in a loop) is restarted.',
        }),
      },
      'Embedded Node-RED: the editor where installers wire sirens, recorders and alerts.',
    ),
    integrity: obj(
      {
        mark_interval_ms: Type.Integer({
          minimum: 10,
          maximum: 60000,
          default: 250,
          description:
            'The committed-seq high-water mark (<data_dir>/commit-mark, outside the WAL) is written and fsynced at most this often ' +
            'while commits happen, and at shutdown. At start, fewer commits than the mark says means acknowledged reports were lost.',
        }),
        probe_interval_ms: Type.Integer({
          minimum: 100,
          maximum: 600000,
          default: 5000,
          description: '/health runs a small write transaction when no commit happened for this long, so db never reads up while nothing can commit.',
        }),
      },
      'Storage integrity: damaged storage is noticed, and /health says whether the store can commit.',
    ),
    devices: obj(
      {
        sirens: Type.Array(
          Type.Object(
            {
              id: Type.String({ pattern: ID_PATTERN, maxLength: 64 }),
              cameras: Type.Array(Type.String({ maxLength: 64 }), { default: [], description: 'Camera ids, or "*" for every camera.' }),
              zones: Type.Array(Type.String({ maxLength: 64 }), { default: [], description: 'Zone ids (see zones).' }),
              duration_s: Type.Number({ minimum: 0.05, maximum: 3600, default: 30 }),
              feedback: Type.Unsafe<'' | 'safesphere' | 'tasmota' | 'shelly' | 'shelly_gen1' | 'zigbee2mqtt'>({
                type: 'string',
                enum: ['', 'safesphere', 'tasmota', 'shelly', 'shelly_gen1', 'zigbee2mqtt'],
                default: '',
                description:
                  'Where the siren echoes its state, so a siren action is delivered only when it sounded: safesphere ' +
                  '(safesphere/sirens/<id>/state, {"state":"ON"} or ON), tasmota (stat/<device>/POWER ON), shelly (Gen2/3: ' +
                  '<device>/status/switch:0 {"output":true}), shelly_gen1 (shellies/<device>/relay/0 on), zigbee2mqtt ' +
                  '(zigbee2mqtt/<device> {"state":"ON"}). Empty: no feedback, its actions are sent_unconfirmed.',
              }),
              device: Type.String({ pattern: '^[^#+]*$', maxLength: 128, default: '', description: 'The device name in the feedback topic. Empty: the siren id.' }),
            },
            { additionalProperties: false },
          ),
          {
            default: [{ id: 'siren-1', cameras: ['*'], zones: [], duration_s: 30, feedback: '', device: '' }],
            description: 'Sirens, commanded on safesphere/sirens/<id>/set, and the cameras or zones each covers.',
          },
        ),
        recorders: Type.Array(
          Type.Object(
            {
              id: Type.String({ pattern: ID_PATTERN, maxLength: 64 }),
              cameras: Type.Array(Type.String({ maxLength: 64 }), { default: ['*'], description: 'Camera ids, or "*" for every camera.' }),
              zones: Type.Array(Type.String({ maxLength: 64 }), { default: [] }),
              frigate_url: Type.String({
                default: '',
                description: 'Base URL of a Frigate NVR; its create-event API is called for each recording. Empty: MQTT only.',
              }),
              label: Type.String({ pattern: ID_PATTERN, default: 'threat', description: 'Frigate event label.' }),
              duration_s: Type.Number({ minimum: 1, maximum: 3600, default: 60 }),
            },
            { additionalProperties: false },
          ),
          {
            default: [],
            description: 'Recorders. Every camera is told to record on safesphere/recorders/<camera_id>/set; these add NVR calls.',
          },
        ),
      },
      'The device map the default flows use: which sirens and recorders answer for which cameras.',
    ),
    automation: obj(
      {
        action_timeout_ms: Type.Integer({
          minimum: 100,
          maximum: 600000,
          default: 10000,
          description: 'An action with no result from a flow within this time is retried (HIGH, CRITICAL) or timed out.',
        }),
        max_attempts: Type.Integer({ minimum: 1, maximum: 20, default: 3, description: 'Dispatches of a HIGH or CRITICAL action before it is timed_out.' }),
        retry_backoff_ms: Type.Integer({
          minimum: 0,
          maximum: 600000,
          default: 1000,
          description: 'Wait before the first retry; doubled for each further one.',
        }),
        redispatch_max_age_s: Type.Integer({
          minimum: 0,
          maximum: 86400,
          default: 120,
          description: 'After a restart, unfinished actions younger than this are dispatched again; older ones are timed_out.',
        }),
        webhook_url: Type.String({ default: '', description: 'Optional URL the notification flow POSTs every alert to.' }),
        siren_action_types: Type.Array(Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' }), {
          default: ['voice_alert'],
          maxItems: 32,
          description:
            'Action types that sound sirens: such an action is delivered only when every siren it commands that has feedback configured ' +
            '(devices.sirens[].feedback) echoes ON; sirens without feedback leave it sent_unconfirmed.',
        }),
        degraded_window_s: Type.Integer({
          minimum: 1,
          maximum: 86400,
          default: 300,
          description: 'Health stays degraded this long after an action times out.',
        }),
      },
      'The action lifecycle: pending, dispatched, then delivered, sent_unconfirmed, failed or timed_out (src/action-states.ts).',
    ),
    upstream: obj(
      {
        batch_size: Type.Integer({
          minimum: 1,
          maximum: 5000,
          default: 256,
          description: 'Outbox entries taken per drain round, most severe first.',
        }),
        max_bytes_per_s: Type.Integer({
          minimum: 0,
          default: 0,
          description: 'Uplink bandwidth cap shared by every push transport, in bytes/s. 0: no cap.',
        }),
        retry_base_ms: Type.Integer({
          minimum: 1,
          maximum: 600000,
          default: 1000,
          description: 'First retry delay after a transient failure (5xx, 408, 429, network); doubled each time, with full jitter.',
        }),
        retry_max_ms: Type.Integer({
          minimum: 1,
          maximum: 3600000,
          default: 60000,
          description: 'Longest retry delay. A Retry-After header is honoured up to one hour.',
        }),
        poll_interval_ms: Type.Integer({
          minimum: 10,
          maximum: 600000,
          default: 5000,
          description: 'Idle transports look at the outbox at least this often (new entries wake them at once).',
        }),
        stop_grace_ms: Type.Integer({
          minimum: 0,
          maximum: 60000,
          default: 2000,
          description: 'At shutdown, sends in flight get this long to finish before they are abandoned (and resent after restart).',
        }),
        http: obj(
          {
            enabled: Type.Boolean({ default: false, description: 'Push to a SafeSphere-compatible backend over HTTP.' }),
            url: Type.String({ default: '', description: 'Base URL; entries go to <url>/threats/report, snapshots to <url>/upload/screenshot.' }),
            token: Type.String({ default: '', description: 'Bearer token sent upstream. Prefer token_file.' }),
            token_file: Type.String({ default: '', description: 'File holding the bearer token (read at start).' }),
            timeout_ms: Type.Integer({ minimum: 100, maximum: 600000, default: 10000, description: 'Per-request timeout.' }),
            concurrency: Type.Integer({
              minimum: 1,
              maximum: 256,
              default: 16,
              description: 'Requests in flight at once. Each camera\'s entries of one level are still sent one after another, in order.',
            }),
            heartbeat_s: Type.Integer({
              minimum: 5,
              maximum: 86400,
              default: 60,
              description: 'POST <url>/sites/<site_id>/heartbeat (the health summary) this often; arming changes go to <url>/sites/<site_id>/events.',
            }),
          },
          'HTTP push to a SafeSphere backend (POST /threats/report with site_id, scores, actions, labels).',
        ),
        mqtt: obj(
          {
            enabled: Type.Boolean({ default: false, description: 'Bridge incidents to an existing MQTT broker.' }),
            url: Type.String({ default: '', description: 'Broker URL: mqtt://host:1883 or mqtts://host:8883.' }),
            client_id: Type.String({ default: '', description: 'Fixed client id of the persistent session. Empty: safesphere-edge-<site_id>.' }),
            username: Type.String({ default: '', description: 'Broker username.' }),
            password: Type.String({ default: '', description: 'Broker password. Prefer password_file.' }),
            password_file: Type.String({ default: '', description: 'File holding the broker password (read at start).' }),
            topic_prefix: Type.String({
              default: 'safesphere',
              pattern: '^[^#+]*$',
              description: 'Entries go to <topic_prefix>/sites/<site_id>/incidents/<incident_id>, QoS 1.',
            }),
            ca_file: Type.String({ default: '', description: 'CA certificate (PEM) for mqtts://.' }),
            cert_file: Type.String({ default: '', description: 'Client certificate (PEM) for mutual TLS.' }),
            key_file: Type.String({ default: '', description: 'Client key (PEM) for mutual TLS.' }),
            reject_unauthorized: Type.Boolean({ default: true, description: 'Verify the broker\'s TLS certificate.' }),
            keepalive_s: Type.Integer({ minimum: 5, maximum: 3600, default: 30, description: 'MQTT keep-alive.' }),
            heartbeat_s: Type.Integer({
              minimum: 5,
              maximum: 86400,
              default: 60,
              description:
                'A retained heartbeat (health summary) goes to <topic_prefix>/sites/<site_id>/heartbeat this often while connected; ' +
                '<topic_prefix>/sites/<site_id>/status is the session\'s retained last will (offline) and online after each connect.',
            }),
          },
          'MQTT bridge to a cloud broker: QoS 1, persistent session (clean=false, fixed client id); delivered on PUBACK.',
        ),
      },
      'Upstream sync, push side: the outbox drains to every enabled transport, CRITICAL and HIGH first.',
    ),
    sync: obj(
      {
        token: Type.String({
          default: '',
          description: 'Bearer token for the pull API (GET /sync/incidents, POST /sync/ack). Empty with no token_file: the API answers 503.',
        }),
        token_file: Type.String({ default: '', description: 'File holding the pull API token (read at start).' }),
      },
      'Pull API for a cloud job: cursor paging over the outbox, and an ack.',
    ),
    retention: obj(
      {
        max_age_days: Type.Number({
          minimum: 0,
          default: 30,
          description: 'Delivered incidents older than this are deleted. 0: kept until the size caps need the room.',
        }),
        max_db_mb: Type.Number({
          minimum: 0,
          default: 2048,
          description:
            'Database cap. Above it, delivered incidents go first; then undelivered LOW, then MEDIUM (oldest first, snapshots before rows). ' +
            'HIGH and CRITICAL are never evicted and new reports are always accepted. 0: no cap.',
        }),
        max_snapshot_mb: Type.Number({
          minimum: 0,
          default: 1024,
          description: 'Cap on the snapshot files referenced by the outbox, evicted in the same order. 0: no cap.',
        }),
        interval_s: Type.Number({ minimum: 1, maximum: 86400, default: 60, description: 'How often retention runs.' }),
      },
      'How long data stays on the gateway, and what goes when the buffer is full.',
    ),
    snapshots: obj(
      {
        enabled: Type.Boolean({ default: true, description: 'Accept evidence snapshots (POST /upload/screenshot, MQTT .../snapshots/<incident_id>).' }),
        dir: Type.String({ default: '', description: 'Where snapshot JPEGs and thumbnails are written. Empty: <data_dir>/snapshots.' }),
        max_bytes: Type.Integer({
          minimum: 1024,
          maximum: 128 * 1024 * 1024,
          default: 6 * 1024 * 1024,
          description: 'Largest accepted snapshot file (413 beyond). Keep mqtt.max_packet_bytes above it.',
        }),
        max_pixels: Type.Integer({
          minimum: 1,
          maximum: 268402689,
          default: 24_000_000,
          description: 'Largest accepted width x height, checked from the header before decoding (decompression bombs get a 413).',
        }),
        jpeg_quality: Type.Integer({ minimum: 30, maximum: 100, default: 85, description: 'Quality of the stored JPEG.' }),
        thumbnail_px: Type.Integer({ minimum: 32, maximum: 2048, default: 320, description: 'Longest side of the stored thumbnail.' }),
        max_concurrent: Type.Integer({
          minimum: 1,
          maximum: 64,
          default: 2,
          description: 'Snapshots decoded at once (sharp); more wait, up to max_queued.',
        }),
        max_queued: Type.Integer({
          minimum: 0,
          maximum: 10000,
          default: 32,
          description: 'Snapshots waiting for a decoder beyond this are refused (HTTP 503, MQTT no PUBACK).',
        }),
        hold_s: Type.Number({
          minimum: 1,
          maximum: 86400,
          default: 120,
          description: 'A snapshot that arrives before its report is kept this long for the report, then dropped with a log line.',
        }),
        hold_max_count: Type.Integer({ minimum: 1, maximum: 100000, default: 64, description: 'Most snapshots held for reports not yet seen; the oldest goes first.' }),
        hold_max_mb: Type.Number({ minimum: 1, maximum: 100000, default: 64, description: 'Most disk taken by held snapshots; the oldest goes first.' }),
      },
      'Evidence snapshots: decoded and re-encoded by sharp (auto-oriented, all metadata stripped), stored with a thumbnail and the SHA-256 of the original.',
    ),
    models: obj(
      {
        snapshot: obj(
          {
            path: Type.String({
              default: '',
              description: 'YOLOv8-style ONNX detector run on each snapshot (output [1, 4+C, N]). Empty: the stage is off.',
            }),
            labels: Type.String({ default: '', description: 'Label file, one class name per line. Empty: <path without .onnx>.txt.' }),
            confidence: Type.Number({ minimum: 0, maximum: 1, default: 0.25, description: 'Detections below this confidence are ignored.' }),
            iou: Type.Number({ minimum: 0, maximum: 1, default: 0.45, description: 'Non-maximum suppression IoU threshold.' }),
            person_labels: Type.Array(Type.String({ maxLength: 64 }), { default: ['person'], description: 'Classes counted as people.' }),
            weapon_labels: Type.Array(Type.String({ maxLength: 64 }), {
              default: ['knife', 'gun', 'pistol', 'handgun', 'rifle', 'firearm', 'weapon', 'machete'],
              description: 'Classes counted as weapons.',
            }),
            timeout_ms: Type.Integer({ minimum: 10, maximum: 120000, default: 5000, description: 'A snapshot whose inference takes longer is stored without detections.' }),
            intra_op_threads: Type.Integer({ minimum: 1, maximum: 16, default: 1, description: 'onnxruntime intra-op threads of the detector worker.' }),
          },
          'Optional image model: person and weapon confidences per snapshot, stored on the incident.',
        ),
      },
      'Optional models beyond the re-scorer.',
    ),
    ai: obj(
      {
        enabled: Type.Boolean({ default: false, description: 'Ask Gemini for a second opinion on serious incidents, and answer the operator chat.' }),
        api_key: Type.String({ default: '', description: 'Gemini API key. Prefer api_key_file, or the GEMINI_API_KEY environment variable.' }),
        api_key_file: Type.String({ default: '', description: 'File holding the Gemini API key (read at start).' }),
        model: Type.String({ minLength: 1, maxLength: 128, default: 'gemini-2.5-flash', description: 'Gemini model name.' }),
        base_url: Type.String({ default: '', description: 'API base URL override (a proxy, or a local test server). Empty: Google\'s.' }),
        min_level: Type.Unsafe<ThreatLevel>({
          type: 'string',
          enum: [...LEVELS],
          default: 'HIGH',
          description: 'Incidents at or above this final level that have a snapshot get a second opinion.',
        }),
        send_images: Type.Boolean({ default: true, description: 'Send the snapshot. False: telemetry (and detector output) only, for privacy.' }),
        timeout_ms: Type.Integer({ minimum: 100, maximum: 300000, default: 20000, description: 'Per-request timeout.' }),
        daily_budget: Type.Integer({ minimum: 0, maximum: 1000000, default: 200, description: 'Most Gemini requests per UTC day (second opinions and chat).' }),
        per_incident_cap: Type.Integer({ minimum: 1, maximum: 20, default: 3, description: 'Most requests for one incident, retries included.' }),
        queue_max: Type.Integer({
          minimum: 1,
          maximum: 100000,
          default: 100,
          description: 'Incidents waiting for a second opinion (while offline or backing off); beyond it the oldest is dropped and counted.',
        }),
        backoff_base_ms: Type.Integer({ minimum: 1, maximum: 3600000, default: 2000, description: 'First wait after a 429, 5xx, timeout or network error; doubled each time, with jitter.' }),
        backoff_max_ms: Type.Integer({ minimum: 1, maximum: 86400000, default: 300000, description: 'Longest wait between attempts.' }),
        dispatch_wait_ms: Type.Integer({
          minimum: 0,
          maximum: 600000,
          default: 10000,
          description: 'Longest wait for an incident\'s actions to be dispatched before its AI request may start (AI never goes first).',
        }),
      },
      'Gemini second opinion and operator chat. Never on the critical path: actions are dispatched before any AI call starts.',
    ),
    site: obj(
      {
        map: obj(
          {
            links: Type.Array(
              Type.Object(
                {
                  from: Type.String({ pattern: ID_PATTERN, maxLength: 64, description: 'Zone id.' }),
                  to: Type.String({ pattern: ID_PATTERN, maxLength: 64, description: 'Zone id.' }),
                  distance_m: Type.Number({ exclusiveMinimum: 0, maximum: 100000, description: 'Walking distance between the zones.' }),
                },
                { additionalProperties: false },
              ),
              { default: [], maxItems: 4096, description: 'Walkable links between zones, usable both ways.' },
            ),
            exits: Type.Array(
              Type.Object(
                {
                  id: Type.String({ pattern: ID_PATTERN, maxLength: 64, description: 'Exit id.' }),
                  zone: Type.String({ pattern: ID_PATTERN, maxLength: 64, description: 'The zone the exit opens from.' }),
                  name: Type.String({ maxLength: 128, default: '', description: 'What a voice alert or sign says, e.g. "north exit".' }),
                  distance_m: Type.Number({ minimum: 0, maximum: 100000, default: 0, description: 'From the zone to the exit door.' }),
                },
                { additionalProperties: false },
              ),
              { default: [], maxItems: 256, description: 'Exits of the site.' },
            ),
            police_station: Type.Object(
              {
                name: Type.String({ maxLength: 128, default: '', description: 'The station\'s name.' }),
                address: Type.String({ maxLength: 256, default: '', description: 'Its address, as a voice alert or sign would give it.' }),
                lat: Type.Union([Type.Number({ minimum: -90, maximum: 90 }), Type.Null()], { default: null, description: 'Latitude, or null.' }),
                lon: Type.Union([Type.Number({ minimum: -180, maximum: 180 }), Type.Null()], { default: null, description: 'Longitude, or null.' }),
                exit: Type.String({ maxLength: 64, default: '', description: 'The exit id nearest to the station, passed on with every route. Empty: none.' }),
              },
              { additionalProperties: false, default: {}, description: 'The nearest police station, carried with every route.' },
            ),
            risk_weight: Type.Number({
              minimum: 0,
              maximum: 100,
              default: 2,
              description: 'Edge cost = distance_m x (1 + risk_weight x risk of the zone entered); a zone\'s risk is its configured risk, raised by active MEDIUM incidents.',
            }),
          },
          'The site plan for safe-route guidance: zones (see zones) joined by walkable links, and exits.',
        ),
        active_window_s: Type.Integer({
          minimum: 10,
          maximum: 86400,
          default: 900,
          description: 'An incident counts as an active threat this long after it was received, unless an operator resolved it.',
        }),
      },
      'Site operations: the site map, safe routes and what counts as an active threat.',
    ),
    navigation: obj(
      {
        enabled: Type.Boolean({
          default: true,
          description: 'Live safe routes: WS /ws/navigation (signage or operator role), re-sent whenever the active-threat picture changes the answer.',
        }),
        mqtt_retained: Type.Boolean({
          default: true,
          description: 'Also keep the current route from every zone of the site map retained on safesphere/routes/<zone> (QoS 1), for signage and PA devices.',
        }),
      },
      'Live safe-route updates (the answers of GET /api/routes, pushed): heartbeats and buffers as dashboard.heartbeat_s and dashboard.ws_*.',
    ),
    dashboard: obj(
      {
        enabled: Type.Boolean({ default: true, description: 'Serve the operator dashboard at / and its APIs (/api/*, /ws/*).' }),
        operator_token: Type.String({
          default: '',
          description: 'Bearer token of the operator (dashboard login, /api/*, /ws/*). Prefer operator_token_file.',
        }),
        operator_token_file: Type.String({
          default: '',
          description: 'File holding the operator token. Both empty: a first start generates one into <data_dir>/operator-token (mode 0600).',
        }),
        feed_keep: Type.Integer({
          minimum: 1000,
          maximum: 10000000,
          default: 200000,
          description: 'Newest live-feed changes kept for resuming clients; older ones are pruned (a client further behind gets a gap notice).',
        }),
        ws_max_buffered_kb: Type.Integer({
          minimum: 16,
          maximum: 65536,
          default: 512,
          description: 'A WebSocket client with more unsent data than this is paused and resumed from the store when it drains.',
        }),
        ws_stall_timeout_s: Type.Integer({
          minimum: 1,
          maximum: 3600,
          default: 30,
          description: 'A client that stays paused this long, or misses two heartbeats, is disconnected.',
        }),
        heartbeat_s: Type.Integer({ minimum: 1, maximum: 300, default: 15, description: 'Heartbeat interval on the WebSocket feeds.' }),
        health_interval_s: Type.Integer({ minimum: 1, maximum: 300, default: 5, description: 'How often /ws/incidents sends the health view.' }),
      },
      'The operator dashboard, its WebSocket feeds and analysis API.',
    ),
    metrics: obj(
      {
        enabled: Type.Boolean({ default: true, description: 'Serve Prometheus metrics at /metrics.' }),
        token: Type.String({
          default: '',
          description: 'Bearer token for /metrics (a scraper\'s own). Empty: the operator token is required. Prefer token_file.',
        }),
        token_file: Type.String({ default: '', description: 'File holding the metrics token.' }),
      },
      'Prometheus /metrics (prom-client).',
    ),
    frigate: obj(
      {
        enabled: Type.Boolean({ default: false, description: 'Take Frigate review items (and optionally tracked-object events) from Frigate\'s MQTT broker as reports.' }),
        url: Type.String({ default: 'mqtt://127.0.0.1:1883', description: 'Frigate\'s broker: mqtt://host:1883 or mqtts://host:8883.' }),
        client_id: Type.String({ default: '', description: 'Fixed client id of the persistent session (QoS 1, clean=false). Empty: safesphere-edge-frigate-<site_id>.' }),
        username: Type.String({ default: '', description: 'Broker username.' }),
        password: Type.String({ default: '', description: 'Broker password. Prefer password_file.' }),
        password_file: Type.String({ default: '', description: 'File holding the broker password (read at start; credential:<name> reads $CREDENTIALS_DIRECTORY).' }),
        ca_file: Type.String({ default: '', description: 'CA certificate (PEM) for mqtts://.' }),
        cert_file: Type.String({ default: '', description: 'Client certificate (PEM) for mutual TLS.' }),
        key_file: Type.String({ default: '', description: 'Client key (PEM) for mutual TLS.' }),
        reject_unauthorized: Type.Boolean({ default: true, description: 'Verify the broker\'s TLS certificate.' }),
        keepalive_s: Type.Integer({ minimum: 5, maximum: 3600, default: 30, description: 'MQTT keep-alive.' }),
        reconnect_ms: Type.Integer({ minimum: 100, maximum: 600000, default: 2000, description: 'Delay between reconnection attempts.' }),
        topic_prefix: Type.String({ default: 'frigate', pattern: '^[^#+]+$', description: 'Frigate\'s mqtt.topic_prefix: <prefix>/reviews, <prefix>/events, <prefix>/available.' }),
        events: Type.Boolean({
          default: false,
          description: 'Also take <prefix>/events (one incident per tracked object). For Frigate before 0.14, which has no reviews; with reviews it duplicates them.',
        }),
        frigate_url: Type.String({ default: '', description: 'Frigate\'s web UI, for the links kept on each incident (<frigate_url>/review?id=<review id>). Empty: no link.' }),
        camera_prefix: Type.String({ default: '', pattern: '^[A-Za-z0-9_.:-]*$', description: 'Prepended to Frigate\'s camera name to give the incident\'s camera_id.' }),
        levels: obj(
          {
            detection: Type.Unsafe<ThreatLevel>({ type: 'string', enum: [...LEVELS], default: 'LOW', description: 'Level of a review with severity "detection".' }),
            alert: Type.Unsafe<ThreatLevel>({ type: 'string', enum: [...LEVELS], default: 'MEDIUM', description: 'Level of a review with severity "alert".' }),
            person: Type.Unsafe<ThreatLevel>({ type: 'string', enum: [...LEVELS], default: 'MEDIUM', description: 'At least this level when the review\'s objects include a person.' }),
            weapon: Type.Unsafe<ThreatLevel>({ type: 'string', enum: [...LEVELS], default: 'HIGH', description: 'At least this level when the review\'s objects include a weapon label.' }),
          },
          'Levels from a review: the highest of its severity\'s, person\'s and weapon\'s.',
        ),
        weapon_labels: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
          maxItems: 64,
          default: ['knife', 'gun', 'pistol', 'rifle', 'handgun', 'firearm', 'weapon'],
          description: 'Object labels (of the site\'s Frigate model) that count as weapons.',
        }),
        max_payload_bytes: Type.Integer({ minimum: 1024, maximum: 16 * 1024 * 1024, default: 64 * 1024, description: 'Largest Frigate message taken; bigger ones are refused and counted.' }),
        max_tracked: Type.Integer({ minimum: 16, maximum: 1000000, default: 10000, description: 'Reviews whose escalation state is kept in memory (older ones are read back from the store).' }),
      },
      'Frigate NVR as a report source (src/frigate/): one incident per review, escalations as linked follow-ups.',
    ),
    onvif: obj(
      {
        enabled: Type.Boolean({ default: false, description: 'Take ONVIF analytics events (pull-point subscriptions) from the cameras below as reports.' }),
        cameras: Type.Array(
          Type.Object(
            {
              id: Type.String({ pattern: ID_PATTERN, minLength: 1, maxLength: 64, description: 'The incident\'s camera_id.' }),
              address: Type.String({ minLength: 1, description: 'Device service URL (http://host:port/onvif/device_service) or host[:port].' }),
              username: Type.String({ default: '', description: 'ONVIF user (WS-Security UsernameToken; HTTP digest when the camera asks).' }),
              password: Type.String({ default: '', description: 'ONVIF password. Prefer password_file.' }),
              password_file: Type.String({ default: '', description: 'File holding the password (read at start; credential:<name> reads $CREDENTIALS_DIRECTORY).' }),
              holdoff_s: Type.Optional(Type.Number({ minimum: 0, maximum: 3600, description: 'This camera\'s hold-off window (default onvif.holdoff_s).' })),
            },
            { additionalProperties: false },
          ),
          { default: [], maxItems: 256, description: 'Cameras to subscribe to, one pull-point subscription each.' },
        ),
        holdoff_s: Type.Number({ minimum: 0, maximum: 3600, default: 10, description: 'Repeats of the same topic and source within this window are one event.' }),
        topics: Type.Array(
          Type.Object(
            {
              kind: Type.String({ pattern: '^[a-z][a-z0-9_]{0,31}$', description: 'Name of the analytics event (shown in behavior_summary).' }),
              match: Type.Array(Type.String({ minLength: 1, maxLength: 256 }), {
                minItems: 1,
                maxItems: 32,
                description: 'Topic paths, namespace prefixes removed (RuleEngine/FieldDetector/ObjectsInside); a topic matches a path it contains, whole segments, any case.',
              }),
              level: Type.Unsafe<ThreatLevel>({ type: 'string', enum: [...LEVELS], description: 'Report level.' }),
              enabled: Type.Boolean({ default: true, description: 'Off: the topic is ignored.' }),
            },
            { additionalProperties: false },
          ),
          {
            default: [
              { kind: 'tampering', match: ['VideoSource/GlobalSceneChange/ImagingService', 'RuleEngine/TamperDetector/Tamper', 'VideoSource/Tampering'], level: 'MEDIUM', enabled: true },
              { kind: 'intrusion', match: ['RuleEngine/FieldDetector/ObjectsInside', 'FieldDetection', 'IntrusionDetection'], level: 'MEDIUM', enabled: true },
              { kind: 'line_crossing', match: ['RuleEngine/LineDetector/Crossed', 'CrossLineDetection', 'LineCrossing'], level: 'LOW', enabled: true },
              { kind: 'motion', match: ['RuleEngine/CellMotionDetector/Motion', 'VideoSource/MotionAlarm'], level: 'LOW', enabled: false },
            ],
            maxItems: 128,
            description: 'Topics mapped to levels, first match wins. Defaults: tampering and intrusion MEDIUM, line crossing LOW, motion LOW and off.',
          },
        ),
        timeout_ms: Type.Integer({ minimum: 500, maximum: 120000, default: 10000, description: 'Timeout of each ONVIF request but PullMessages (which the camera may hold up to a minute).' }),
        backoff_min_ms: Type.Integer({ minimum: 10, maximum: 600000, default: 1000, description: 'First reconnection delay after a camera stops answering; doubled up to backoff_max_ms, with jitter.' }),
        backoff_max_ms: Type.Integer({ minimum: 10, maximum: 3600000, default: 60000, description: 'Longest reconnection delay.' }),
        auth_retry_s: Type.Integer({ minimum: 1, maximum: 86400, default: 600, description: 'After the camera refuses the credentials, wait this long before trying again (no retry storm).' }),
        max_response_bytes: Type.Integer({ minimum: 4096, maximum: 64 * 1024 * 1024, default: 1024 * 1024, description: 'Largest ONVIF response read; a bigger one is cut off, refused and counted.' }),
        message_limit: Type.Integer({ minimum: 1, maximum: 1000, default: 32, description: 'MessageLimit of each PullMessages.' }),
      },
      'ONVIF analytics events as a report source (src/onvif/, the onvif npm package): tampering, intrusion, line crossing, motion.',
    ),
    arming: obj(
      {
        initial_mode: armingModeSchema('armed_away', 'Mode on the first start (nothing stored yet) when no schedule is enabled.'),
        pin_hash: Type.String({
          default: '',
          pattern: '^(|\\$2[aby]\\$\\d{2}\\$.{53})$',
          description:
            'bcrypt hash of the PIN (safesphere-edge --hash-password) required to disarm over MQTT or Home Assistant. ' +
            'Empty: no PIN. The HTTP API and the dashboard use the operator token instead.',
        }),
        pin_max_failures: Type.Integer({
          minimum: 1,
          maximum: 100,
          default: 5,
          description: 'Wrong PINs in a row before every PIN is refused for pin_lockout_s (a correct PIN resets the count).',
        }),
        pin_lockout_s: Type.Integer({ minimum: 1, maximum: 86400, default: 300, description: 'How long PINs are refused after pin_max_failures wrong ones.' }),
        modes: obj(
          {
            disarmed: ModePolicy(
              {
                LOW: [],
                MEDIUM: ['start_recording', 'alert_user'],
                HIGH: ['start_recording', 'notify_emergency_contacts'],
                CRITICAL: ['police_dispatch', 'continuous_recording', 'live_location', 'safe_route', 'notify_all_contacts'],
              },
              'disarmed (site open, people walking past cameras): record and alert the desk; no siren. The safety floor still applies.',
            ),
            armed_home: ModePolicy(ALL_ACTIONS, 'armed_home: the policy\'s full plan.'),
            armed_away: ModePolicy(ALL_ACTIONS, 'armed_away: the policy\'s full plan.'),
            armed_night: ModePolicy(ALL_ACTIONS, 'armed_night: the policy\'s full plan.'),
            armed_vacation: ModePolicy(ALL_ACTIONS, 'armed_vacation: the policy\'s full plan.'),
          },
          'Which of the policy\'s actions each mode keeps. The safety floor overrides every mode: a report naming a firearm (at any ' +
            'level), and any CRITICAL report with a weapon, runs the full CRITICAL response (every CRITICAL action and weapon action).',
        ),
        schedule: obj(
          {
            enabled: Type.Boolean({ default: false, description: 'Follow the weekly schedule. A manual change holds until the schedule\'s next boundary.' }),
            time_zone: Type.String({ default: 'UTC', maxLength: 64, description: 'IANA time zone of the schedule\'s times and holidays, e.g. Europe/Berlin.' }),
            default_mode: armingModeSchema('armed_away', 'Mode outside every weekly slot.'),
            weekly: Type.Array(
              Type.Object(
                {
                  days: Type.Array(Type.Unsafe<(typeof WEEKDAYS)[number]>({ type: 'string', enum: [...WEEKDAYS] }), {
                    minItems: 1,
                    maxItems: 7,
                    description: 'Days the slot starts on: mon, tue, wed, thu, fri, sat, sun.',
                  }),
                  from: Type.String({ pattern: HH_MM, description: 'Local start time, HH:MM.' }),
                  to: Type.String({ pattern: HH_MM, description: 'Local end time, HH:MM (24:00: midnight; earlier than from: the next day).' }),
                  mode: armingModeSchema('disarmed', 'Mode during the slot.'),
                },
                { additionalProperties: false },
              ),
              { default: [], maxItems: 256, description: 'Weekly slots; they must not overlap.' },
            ),
            holidays: Type.Array(Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' }), {
              default: [],
              maxItems: 1000,
              description: 'Dates (YYYY-MM-DD, local) on which holiday_mode holds all day instead of the weekly slots.',
            }),
            holiday_mode: armingModeSchema('armed_away', 'Mode on holidays.'),
          },
          'Optional weekly arming schedule with holidays, in a configured time zone.',
        ),
      },
      'Arming modes (Home Assistant\'s names): set over HTTP (operator), MQTT safesphere/gateway/arming/set (admin or keypad), the ' +
        'dashboard, the safesphere arming node, or the schedule. Every change is audited, in the live feed, and synced upstream.',
    ),
    homeassistant: obj(
      {
        enabled: Type.Boolean({ default: false, description: 'Publish Home Assistant MQTT discovery and entity states on the embedded broker.' }),
        discovery_prefix: Type.String({
          default: 'homeassistant',
          minLength: 1,
          maxLength: 128,
          pattern: '^[^#+]+$',
          description: 'Home Assistant\'s discovery prefix; its birth message on <prefix>/status triggers a re-send.',
        }),
        upstream: Type.Boolean({
          default: false,
          description: 'Also publish discovery and states on the upstream broker (upstream.mqtt), states under <topic_prefix>/sites/<site_id>/.',
        }),
        cameras: Type.Array(Type.String({ pattern: ID_PATTERN, minLength: 1, maxLength: 64 }), {
          default: [],
          maxItems: 1024,
          description: 'Cameras that get entities besides those in zones and the camera accounts of mqtt.accounts.',
        }),
        refresh_s: Type.Integer({
          minimum: 1,
          maximum: 3600,
          default: 10,
          description: 'How often open incidents and zone threats are re-read (acknowledgements, the active window running out).',
        }),
      },
      'Home Assistant MQTT discovery: one device with an alarm panel, per-camera event and sensor, per-zone threat, sirens, an acknowledge button.',
    ),
    contacts: Type.Array(
      Type.Object(
        {
          id: Type.String({ pattern: ID_PATTERN, minLength: 1, maxLength: 64, description: 'Contact id, named in escalation steps.' }),
          name: Type.String({ minLength: 1, maxLength: 128, description: 'Name shown in messages and in the ledger.' }),
          channels: Type.Array(ContactChannel, {
            minItems: 1,
            maxItems: 16,
            description: 'How this contact is reached; every channel of a step\'s contacts is used at once.',
          }),
        },
        { additionalProperties: false },
      ),
      {
        default: [],
        maxItems: 1000,
        description:
          'People and stations to tell (README "Who gets told"). Each channel is one of {email: <address>}, {ntfy: <topic>}, ' +
          '{pushover: <user key>}, {telegram: <chat id>}, {webhook: <URL>}.',
      },
    ),
    escalation: obj(
      {
        LOW: EscalationSteps('LOW'),
        MEDIUM: EscalationSteps('MEDIUM'),
        HIGH: EscalationSteps('HIGH'),
        CRITICAL: EscalationSteps('CRITICAL'),
      },
      'Who is told at each final level, and when: steps run until someone acknowledges the incident, then stop.',
    ),
    notify: obj(
      {
        action_types: Type.Array(Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' }), {
          default: [
            'alert_user',
            'notify_police',
            'police_dispatch',
            'notify_emergency_contacts',
            'notify_all_contacts',
            'share_location',
            'live_location',
            'armed_threat_escalation',
          ],
          maxItems: 64,
          description:
            'Policy action types carried by the contacts and escalation (each ends delivered, acknowledged, failed or undeliverable). ' +
            'Remove a type to carry it in a Node-RED flow instead.',
        }),
        public_url: Type.String({
          default: '',
          description: 'Base URL people\'s phones reach the gateway at, for acknowledge links and buttons. Empty: http://<http.host>:<http.port>.',
        }),
        ack_secret: Type.String({ default: '', description: 'Key that signs acknowledge links. Prefer ack_secret_file. Empty: generated into <data_dir>/notify-ack-secret.' }),
        ack_secret_file: Type.String({ default: '', description: 'File holding the acknowledge-link key (read at start).' }),
        ack_link_ttl_s: Type.Integer({ minimum: 60, maximum: 30 * 86400, default: 86400, description: 'An acknowledge link or button expires after this long.' }),
        send_timeout_ms: Type.Integer({ minimum: 100, maximum: 120000, default: 10000, description: 'Per-delivery timeout (connect and answer).' }),
        retry_base_ms: Type.Integer({ minimum: 10, maximum: 600000, default: 2000, description: 'First retry of a delivery that failed transiently (network, 5xx, 429, SMTP 4xx); doubled each time, with jitter.' }),
        retry_max_ms: Type.Integer({ minimum: 10, maximum: 3600000, default: 60000, description: 'Longest wait between retries.' }),
        max_attempts: Type.Integer({
          minimum: 1,
          maximum: 1000,
          default: 6,
          description: 'Attempts of one delivery before it is failed (escalation goes on to its next step regardless).',
        }),
        concurrency: Type.Integer({ minimum: 1, maximum: 64, default: 8, description: 'Deliveries sent at once.' }),
        email: obj(
          {
            host: Type.String({ default: '', description: 'SMTP server. Empty: e-mail channels are undeliverable.' }),
            port: Type.Integer({ minimum: 0, maximum: 65535, default: 587, description: 'SMTP port (587 submission with STARTTLS, 465 TLS).' }),
            tls: Type.Unsafe<'starttls' | 'tls' | 'none'>({
              type: 'string',
              enum: ['starttls', 'tls', 'none'],
              default: 'starttls',
              description: 'starttls: plain connect, STARTTLS required; tls: TLS from the first byte (port 465); none: no encryption (loopback relays only).',
            }),
            username: Type.String({ default: '', description: 'SMTP AUTH user. Empty: no authentication.' }),
            password: Type.String({ default: '', description: 'SMTP AUTH password. Prefer password_file.' }),
            password_file: Type.String({ default: '', description: 'File holding the SMTP password (read at start).' }),
            from: Type.String({ default: '', description: 'From address. Empty: safesphere@<site_id>.invalid.' }),
            ca_file: Type.String({ default: '', description: 'CA certificate (PEM) for the SMTP server\'s TLS certificate.' }),
            reject_unauthorized: Type.Boolean({ default: true, description: 'Verify the SMTP server\'s TLS certificate.' }),
          },
          'E-mail through nodemailer over SMTP: text and HTML, the snapshot thumbnail, an acknowledge link.',
        ),
        ntfy: obj(
          {
            url: Type.String({ default: 'https://ntfy.sh', description: 'ntfy server (self-hosted or ntfy.sh).' }),
            token: Type.String({ default: '', description: 'Access token (Bearer). Prefer token_file.' }),
            token_file: Type.String({ default: '', description: 'File holding the ntfy access token.' }),
          },
          'ntfy push: priority from the level, tags, a click URL, an Acknowledge button that calls the gateway.',
        ),
        pushover: obj(
          {
            url: Type.String({ default: 'https://api.pushover.net', description: 'Pushover API base URL.' }),
            app_token: Type.String({ default: '', description: 'Application API token. Prefer app_token_file. Empty: Pushover channels are undeliverable.' }),
            app_token_file: Type.String({ default: '', description: 'File holding the Pushover application token.' }),
            retry_s: Type.Integer({ minimum: 30, maximum: 10800, default: 60, description: 'CRITICAL (emergency priority): Pushover repeats the alert this often until acknowledged.' }),
            expire_s: Type.Integer({ minimum: 30, maximum: 10800, default: 3600, description: 'CRITICAL: Pushover stops repeating after this long.' }),
            receipt_poll_s: Type.Integer({ minimum: 1, maximum: 3600, default: 10, description: 'How often an emergency receipt is polled for acknowledged_by.' }),
          },
          'Pushover: emergency priority for CRITICAL; the receipt\'s acknowledged_by becomes the incident\'s acknowledgement.',
        ),
        telegram: obj(
          {
            url: Type.String({ default: 'https://api.telegram.org', description: 'Bot API base URL.' }),
            bot_token: Type.String({ default: '', description: 'Bot token. Prefer bot_token_file. Empty: Telegram channels are undeliverable.' }),
            bot_token_file: Type.String({ default: '', description: 'File holding the bot token.' }),
            poll_timeout_s: Type.Integer({ minimum: 0, maximum: 50, default: 25, description: 'getUpdates long-poll timeout (the site needs no public address).' }),
          },
          'Telegram bot: a message with an inline Acknowledge button; callbacks read by long polling.',
        ),
        webhook: obj(
          {
            secret: Type.String({ default: '', description: 'HMAC-SHA256 key for the X-SafeSphere-Signature header. Prefer secret_file. Empty: unsigned.' }),
            secret_file: Type.String({ default: '', description: 'File holding the webhook signing key.' }),
          },
          'Webhooks: a JSON body, an Idempotency-Key and an HMAC-SHA256 signature header.',
        ),
      },
      'Deliveries to people: the channels, the durable delivery queue, acknowledge links.',
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
    arc: obj(
      {
        account: Type.String({ default: '', maxLength: 64, description: 'The account number the alarm receiving centre gave this site (3 to 16 hex digits). Checked when arc.primary.host is set.' }),
        receiver: Type.String({ pattern: '^[0-9A-Fa-f]{1,6}$', default: '0', description: 'Receiver number (the frame\'s R prefix), from the ARC.' }),
        line: Type.String({ pattern: '^[0-9A-Fa-f]{1,6}$', default: '0', description: 'Line number (the frame\'s L prefix), from the ARC.' }),
        format: Type.Unsafe<'SIA-DCS' | 'ADM-CID'>({ type: 'string', enum: ['SIA-DCS', 'ADM-CID'], default: 'SIA-DCS', description: 'Data format: SIA-DCS (SIA codes) or ADM-CID (Contact ID).' }),
        transport: Type.Unsafe<'tcp' | 'udp'>({ type: 'string', enum: ['tcp', 'udp'], default: 'tcp', description: 'tcp (one connection per message) or udp.' }),
        key: Type.String({ default: '', description: 'AES key (encrypted *SIA-DCS / *ADM-CID). Prefer key_file. Empty with no key_file: unencrypted.' }),
        key_file: Type.String({ default: '', description: 'File holding the AES key (read at start; credential:<name> reads $CREDENTIALS_DIRECTORY).' }),
        key_format: Type.Unsafe<'hex' | 'ascii'>({ type: 'string', enum: ['hex', 'ascii'], default: 'hex', description: 'hex: 32, 48 or 64 hex digits (AES-128/192/256); ascii: 16, 24 or 32 characters.' }),
        primary: obj(
          {
            host: Type.String({ default: '', description: 'Primary receiver address. Empty: no monitoring station (arc off).' }),
            port: Type.Integer({ minimum: 1, maximum: 65535, default: 12300, description: 'Primary receiver port.' }),
          },
          'The primary receiver.',
        ),
        backup: obj(
          {
            host: Type.String({ default: '', description: 'Backup receiver address (the second path). Empty: no backup.' }),
            port: Type.Integer({ minimum: 1, maximum: 65535, default: 12300, description: 'Backup receiver port.' }),
          },
          'The backup receiver, used after the primary failed arc.attempts_per_path times in a row.',
        ),
        ack_timeout_ms: Type.Integer({ minimum: 100, maximum: 60000, default: 5000, description: 'Per-message timeout: connect, send and the receiver\'s ACK/NAK/DUH.' }),
        attempts_per_path: Type.Integer({ minimum: 1, maximum: 10, default: 2, description: 'Attempts on a path before the message goes to the other path (and the other path becomes the active one).' }),
        supervision_s: Type.Integer({ minimum: 0, maximum: 86400, default: 90, description: 'Link test (NULL message) interval, so the ARC raises a communication failure when the gateway goes silent. 0: off.' }),
        supervision_message: Type.Unsafe<'null' | 'test_report'>({
          type: 'string',
          enum: ['null', 'test_report'],
          default: 'null',
          description: 'null: the standard NULL link test; test_report: an automatic test event (SIA RP / Contact ID 602) for receivers that take no NULL.',
        }),
        test_report_h: Type.Integer({ minimum: 0, maximum: 500, default: 24, description: 'Periodic test report (SIA RP / Contact ID 602) every this many hours, as panels send. 0: off.' }),
        extended_data: Type.Boolean({ default: true, description: 'Send the site, the incident id and a short text as extended data (one [I...] alarm-text block).' }),
        action_types: Type.Array(Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' }), {
          default: ['police_dispatch', 'notify_police', 'armed_threat_escalation'],
          maxItems: 16,
          description: 'Policy action types the ARC carries (each is delivered on the receiver\'s ACK); when both paths fail, the contacts escalation takes over.',
        }),
        partition: Type.Integer({ minimum: 0, maximum: 99, default: 1, description: 'Area/partition number sent with every event.' }),
        zones: Type.Record(Type.String({ pattern: ID_PATTERN }), Type.Integer({ minimum: 0, maximum: 999 }), {
          default: {},
          description: 'Camera id to zone number; a camera not listed is zone arc.default_zone.',
        }),
        default_zone: Type.Integer({ minimum: 0, maximum: 999, default: 0, description: 'Zone number of cameras not in arc.zones.' }),
        codes: obj(
          {
            holdup: arcCode('HA', 122, 'An incident naming a firearm (any level: the safety floor runs the CRITICAL response): hold-up.'),
            CRITICAL: arcCode('PA', 120, 'CRITICAL: panic.'),
            HIGH: arcCode('BA', 130, 'HIGH: burglary (intrusion).'),
            MEDIUM: arcCode('UA', 150, 'MEDIUM: untyped zone alarm / 24-hour auxiliary.'),
            LOW: arcCode('UA', 150, 'LOW: untyped zone alarm / 24-hour auxiliary.'),
          },
          'Event codes per class: SIA two-letter code (its restore is the code with R second, BA -> BR) and Contact ID event (restore: qualifier 3).',
        ),
      },
      'Alarm receiving centre (central monitoring station): SIA DC-09 over IP, encrypted, supervised, with a backup path (README "Connecting to a monitoring station").',
    ),
  },
  { additionalProperties: false },
);

export type GatewayConfig = Static<typeof ConfigSchema>;
export type LevelPolicy = GatewayConfig['policy']['LOW'];
