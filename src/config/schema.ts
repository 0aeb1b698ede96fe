// The one schema behind the gateway's configuration. It drives validation, defaults,
// environment overrides (SAFESPHERE_<SECTION>_<KEY>) and the generated config/default.yaml.
import { Type, type Static, type TSchema } from '@sinclair/typebox';

export const LEVELS = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;

/** The HTTP roles (src/security/roles.ts gives them their meaning); defined here, with the config's other vocabularies. */
export const ROLES = ['camera', 'operator', 'sync', 'admin'] as const;
export type Role = (typeof ROLES)[number];
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
              role: Type.Unsafe<'camera' | 'siren' | 'recorder' | 'admin'>({
                type: 'string',
                enum: ['camera', 'siren', 'recorder', 'admin'],
                description:
                  'camera: publish only to safesphere/cameras/<id>/#, subscribe only to its own topics; siren/recorder: subscribe only to ' +
                  'safesphere/<sirens|recorders>/<id>/set, publish only to safesphere/<sirens|recorders>/<id>/state; admin: every topic.',
              }),
              id: Type.String({ pattern: '^[A-Za-z0-9_.:-]*$', maxLength: 64, default: '', description: 'Camera or device id. Empty: the username.' }),
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
                description: 'camera: report and upload; operator: read, label, acknowledge, dashboard; sync: pull and ack; admin: everything.',
              }),
              sha256: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256 (hex) of the token (safesphere-edge --create-token <role>).' }),
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
        camera_networks: Type.Array(Type.String({ maxLength: 64 }), {
          default: [],
          description: 'CIDRs (e.g. 10.20.0.0/24) whose clients may report (camera role) without a token, e.g. an isolated camera VLAN.',
        }),
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
        host: Type.String({ default: '0.0.0.0', description: 'Address the Node-RED editor listens on.' }),
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
      },
      'Embedded Node-RED: the editor where installers wire sirens, recorders and alerts.',
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
            },
            { additionalProperties: false },
          ),
          {
            default: [{ id: 'siren-1', cameras: ['*'], zones: [], duration_s: 30 }],
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
        degraded_window_s: Type.Integer({
          minimum: 1,
          maximum: 86400,
          default: 300,
          description: 'Health stays degraded this long after an action times out.',
        }),
      },
      'The action lifecycle: pending, dispatched, then succeeded, failed or timed_out.',
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
