// Embedded Node-RED 4.1, in the gateway's own process: the editor on nodered.port, its
// userDir under data_dir (so installers' flows survive restarts and upgrades), login
// required, logs through our logger, and the SafeSphere nodes loaded from nodes/.
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashSync } from '@node-rs/bcrypt';
import express from 'express';
import type { GatewayConfig } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { PasswordGate } from '../security/password-gate.js';
import type { AutomationBridge } from './types.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SAFESPHERE_NODES_DIR = join(REPO_ROOT, 'nodes', 'safesphere');
export const DEFAULT_FLOWS_FILE = join(REPO_ROOT, 'flows', 'flows.json');
/** Read by the default flows' MQTT broker node: `${SAFESPHERE_EDGE_BROKER_HOST}:${SAFESPHERE_EDGE_BROKER_PORT}`. */
export const BROKER_ENV = { host: 'SAFESPHERE_EDGE_BROKER_HOST', port: 'SAFESPHERE_EDGE_BROKER_PORT' } as const;

const NODE_RED_LEVELS: Record<number, 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'> = {
  10: 'fatal',
  20: 'error',
  30: 'warn',
  40: 'info',
  50: 'debug',
  60: 'trace',
};

/** Node-RED logs strings, objects and errors; errors from function nodes come from another realm. */
function logText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { message?: unknown }).message === 'string') {
    return String((value as { message: string }).message);
  }
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

export interface NodeRedPaths {
  userDir: string;
  flowFile: string;
  passwordFile: string;
  secretFile: string;
}

export function nodeRedPaths(dataDir: string): NodeRedPaths {
  const userDir = join(resolve(dataDir), 'node-red');
  return {
    userDir,
    flowFile: join(userDir, 'flows.json'),
    passwordFile: join(resolve(dataDir), 'node-red-admin-password'),
    secretFile: join(userDir, '.credential-secret'),
  };
}

function writeSecretFile(file: string, content: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, content, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

/**
 * Replaces the installer's flows with the shipped defaults, keeping the old files as
 * timestamped backups. Used by `safesphere-edge --reset-flows`.
 */
export function resetFlows(dataDir: string, defaultsFile = DEFAULT_FLOWS_FILE): string[] {
  const paths = nodeRedPaths(dataDir);
  mkdirSync(paths.userDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const backups: string[] = [];
  for (const file of [paths.flowFile, join(paths.userDir, 'flows_cred.json')]) {
    if (!existsSync(file)) continue;
    const backup = `${file}.bak-${stamp}`;
    renameSync(file, backup);
    backups.push(backup);
  }
  // copyFileSync keeps the shipped file's 0644; flows are the site's own: private.
  copyFileSync(defaultsFile, paths.flowFile);
  chmodSync(paths.flowFile, 0o600);
  return backups;
}

interface NodeRedModule {
  init(server: Server, settings: Record<string, unknown>): void;
  events: {
    on(event: string, listener: () => void): void;
    once(event: string, listener: () => void): void;
    off(event: string, listener: () => void): void;
  };
  start(): Promise<void>;
  stop(): Promise<void>;
  httpAdmin: express.Express;
  httpNode: express.Express;
}

export class NodeRedHost {
  private server: Server | null = null;
  /** The second listener on nodered.lan_host, if set. */
  private lanServer: Server | null = null;
  private users: { username: string; password: string; permissions: string }[] = [];
  /** In front of Node-RED's own login, which counts per username and so lets anyone lock the installer out. */
  readonly loginGate: PasswordGate;
  readonly loginCounters = { refused_wrong: 0, refused_throttled: 0, passed: 0 };
  private red: NodeRedModule | null = null;
  private running = false;
  private flowListeners: { stopping: () => void; started: () => void } | null = null;
  readonly paths: NodeRedPaths;

  constructor(
    private readonly config: GatewayConfig['nodered'],
    dataDir: string,
    private readonly broker: { host: string; port: () => number },
    private readonly bridge: AutomationBridge,
    private readonly log: Logger,
    /** Told when flows stop for a deploy (false) and when they run again (true). */
    private readonly onFlowsRunning: (running: boolean) => void = () => {},
    /** Builds the editor's server(s): HTTPS ones when tls.nodered is on (src/automation/module.ts). */
    private readonly serverFactory: (app: ReturnType<typeof express>, which: 'host' | 'lan_host') => Server = (app) => createServer(app),
    limits?: GatewayConfig['limits'],
  ) {
    this.paths = nodeRedPaths(dataDir);
    this.loginGate = new PasswordGate(
      limits ?? {
        auth_free_failures: 3,
        auth_delay_base_ms: 500,
        auth_delay_max_ms: 30000,
        auth_failure_window_s: 900,
        auth_max_concurrent: 1,
        auth_max_queued: 64,
        auth_max_pending_per_address: 8,
      },
      false,
    );
  }

  get lanPort(): number {
    return (this.lanServer?.address() as AddressInfo | null)?.port ?? 0;
  }

  /**
   * POST /auth/token with a password: checked here first, per client address (off the event
   * loop, throttled with growing delays). Only a right password reaches Node-RED, so its
   * per-username counter (a lock-out for everyone after five failures from anyone) never trips.
   */
  private async checkLogin(req: express.Request, res: express.Response, next: express.NextFunction): Promise<void> {
    const body = (req.body ?? {}) as { grant_type?: unknown; username?: unknown; password?: unknown };
    if (body.grant_type !== 'password') return next();
    const username = typeof body.username === 'string' ? body.username : '';
    const password = typeof body.password === 'string' ? body.password : '';
    const address = req.socket.remoteAddress ?? '';
    const user = this.users.find((u) => u.username === username);
    const outcome = await this.loginGate.check(address, username, password, user?.password ?? null, false);
    if (outcome.kind === 'ok') {
      this.loginCounters.passed++;
      return next();
    }
    if (outcome.kind === 'throttled' || outcome.kind === 'busy') {
      this.loginCounters.refused_throttled++;
      const retry = outcome.kind === 'throttled' ? Math.max(1, Math.ceil(outcome.retryMs / 1000)) : 1;
      this.log.warn({ remote: address, username, retry_after_s: retry }, 'node-red editor login refused: too many wrong passwords from this address');
      res.status(429).set('retry-after', String(retry)).json({ error: 'too_many_attempts', error_description: `Too many failed logins from this address; retry in ${retry} s` });
      return;
    }
    this.loginCounters.refused_wrong++;
    this.log.info({ remote: address, username }, 'node-red editor login failed');
    // What Node-RED itself answers for a wrong password (oauth2orize's invalid_grant).
    res.status(403).json({ error: 'invalid_grant', error_description: 'Invalid resource owner credentials' });
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  get isRunning(): boolean {
    return this.running;
  }

  async start(): Promise<void> {
    mkdirSync(this.paths.userDir, { recursive: true });
    if (!existsSync(this.paths.flowFile)) {
      copyFileSync(this.config.flows_file || DEFAULT_FLOWS_FILE, this.paths.flowFile);
      chmodSync(this.paths.flowFile, 0o600);
      this.log.info({ flowFile: this.paths.flowFile }, 'seeded the default flows');
    }
    // The default flows reach the embedded broker through these; resolved by Node-RED's ${ENV} substitution.
    const host = this.broker.host === '0.0.0.0' || this.broker.host === '::' ? '127.0.0.1' : this.broker.host;
    process.env[BROKER_ENV.host] = host;
    process.env[BROKER_ENV.port] = String(this.broker.port());

    const red = ((await import('node-red')) as unknown as { default: NodeRedModule }).default;
    this.flowListeners = {
      stopping: () => this.onFlowsRunning(false),
      started: () => this.onFlowsRunning(true),
    };
    red.events.on('flows:stopping', this.flowListeners.stopping);
    red.events.on('flows:started', this.flowListeners.started);
    const app = express();
    const server = this.serverFactory(app, 'host');
    red.init(server, this.settings());
    // Parsed here with the body parser Node-RED uses (it skips a body already parsed).
    app.post('/auth/token', express.json({ limit: '16kb' }), express.urlencoded({ extended: false, limit: '16kb' }), (req, res, next) => {
      this.checkLogin(req, res, next).catch(next);
    });
    app.use('/', red.httpAdmin);
    app.use('/api', red.httpNode);
    await new Promise<void>((resolveListen, reject) => {
      server.once('error', reject);
      server.listen(this.config.port, this.config.host, () => {
        server.off('error', reject);
        resolveListen();
      });
    });
    this.server = server;
    if (this.config.lan_host) {
      // The same editor on the LAN address the installer named; its WebSocket upgrades go to
      // the server Node-RED's comms listen on.
      const lan = this.serverFactory(app, 'lan_host');
      lan.on('upgrade', (request, socket, head) => server.emit('upgrade', request, socket, head));
      await new Promise<void>((resolveListen, reject) => {
        lan.once('error', reject);
        lan.listen(this.config.port === 0 ? 0 : this.port, this.config.lan_host, () => {
          lan.off('error', reject);
          resolveListen();
        });
      });
      this.lanServer = lan;
    }
    this.red = red;
    let timer: NodeJS.Timeout | undefined;
    let onStarted: () => void = () => {};
    // Started means the flows run and their nodes have registered, not just that the runtime is up.
    const flowsStarted = new Promise<void>((resolveStarted) => {
      onStarted = resolveStarted;
      red.events.once('flows:started', onStarted);
    });
    try {
      await Promise.race([
        Promise.all([red.start(), flowsStarted]),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`Node-RED did not start within ${this.config.start_timeout_ms} ms`)), this.config.start_timeout_ms);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      red.events.off('flows:started', onStarted);
    }
    this.running = true;
    this.log.info(
      { host: this.config.host, port: this.port, lan_host: this.config.lan_host || null, lan_port: this.lanPort || null, userDir: this.paths.userDir },
      'node-red editor listening',
    );
  }

  async stop(): Promise<void> {
    const red = this.red;
    const server = this.server;
    this.red = null;
    this.server = null;
    this.running = false;
    if (red) {
      await red.stop();
      if (this.flowListeners) {
        red.events.off('flows:stopping', this.flowListeners.stopping);
        red.events.off('flows:started', this.flowListeners.started);
      }
    }
    this.flowListeners = null;
    for (const s of [server, this.lanServer]) {
      if (!s) continue;
      s.closeAllConnections();
      await new Promise<void>((done) => s.close(() => done()));
    }
    this.lanServer = null;
  }

  private adminUsers(): { username: string; password: string; permissions: string }[] {
    if (this.config.admin_users.length > 0) {
      return this.config.admin_users.map((u) => ({ username: u.username, password: u.password_hash, permissions: u.permissions }));
    }
    let password: string;
    if (existsSync(this.paths.passwordFile)) {
      const match = /^password:\s*(\S+)\s*$/m.exec(readFileSync(this.paths.passwordFile, 'utf8'));
      if (!match) throw new Error(`${this.paths.passwordFile} has no "password:" line; delete it to generate a new one`);
      password = match[1]!;
    } else {
      password = randomBytes(18).toString('base64url');
      writeSecretFile(
        this.paths.passwordFile,
        `# Node-RED editor login generated by SafeSphere Edge. Set nodered.admin_users to use your own.\nusername: admin\npassword: ${password}\n`,
      );
      this.log.warn(
        { file: this.paths.passwordFile },
        'no nodered.admin_users configured: generated an editor login for "admin"; the password is in this file',
      );
    }
    return [{ username: 'admin', password: hashSync(password, 10), permissions: '*' }];
  }

  private credentialSecret(): string {
    if (this.config.credential_secret) return this.config.credential_secret;
    if (existsSync(this.paths.secretFile)) return readFileSync(this.paths.secretFile, 'utf8').trim();
    const secret = randomBytes(32).toString('hex');
    writeSecretFile(this.paths.secretFile, `${secret}\n`);
    return secret;
  }

  private settings(): Record<string, unknown> {
    const log = this.log;
    return {
      SKIP_BUILD_CHECK: true,
      userDir: this.paths.userDir,
      flowFile: 'flows.json',
      flowFilePretty: true,
      credentialSecret: this.credentialSecret(),
      httpAdminRoot: '/',
      httpNodeRoot: '/api',
      nodesDir: [SAFESPHERE_NODES_DIR],
      adminAuth: { type: 'credentials', users: (this.users = this.adminUsers()) },
      // The typed interface the SafeSphere nodes use (RED.settings.safesphere).
      safesphere: this.bridge,
      functionExternalModules: false,
      exportGlobalContextKeys: false,
      diagnostics: { enabled: false, ui: false },
      runtimeState: { enabled: false, ui: false },
      telemetry: { enabled: false, updateNotification: false },
      editorTheme: {
        page: { title: 'SafeSphere Edge automation' },
        header: { title: 'SafeSphere Edge automation' },
        projects: { enabled: false },
        tours: false,
      },
      logging: {
        safesphere: {
          level: 'info',
          metrics: false,
          audit: false,
          handler: () => (msg: { level: number; msg: unknown; type?: string; id?: string; name?: string }) => {
            const level = NODE_RED_LEVELS[msg.level] ?? 'info';
            log[level]({ node_type: msg.type, node_id: msg.id, node_name: msg.name }, logText(msg.msg));
          },
        },
      },
    };
  }
}
