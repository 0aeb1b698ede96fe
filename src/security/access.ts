// HTTP access control: every credential the HTTP API accepts, and the one check every route's
// declared role goes through: who a request is (a bearer token with a role, a trusted network,
// or nobody) and whether that grants the role. Tokens are kept only as SHA-256 hashes. The
// credentials: auth.tokens, the admin token (auth.admin_token_file, or one generated into
// <data_dir>/admin-token), the operator token (dashboard.operator_token[_file], or one
// generated into <data_dir>/operator-token), the pull API's sync token (sync.token[_file])
// and the scraper's metrics token (metrics.token[_file], valid on /metrics only).
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { BlockList } from 'node:net';
import type { GatewayConfig } from '../config/schema.js';
import { ERRORS, GatewayError } from '../errors.js';
import type { Logger } from '../logger.js';
import { inNetworks, isLoopback, networkList } from './cidr.js';
import { bearerToken, generateToken, grants, hashToken, type Role, type RouteRole } from './roles.js';
import { readSecret } from './secrets.js';

export interface TokenEntry {
  name: string;
  role: Role;
  /** camera role: the camera ids it reports as; null: any (admin, or "*"). */
  cameras?: readonly string[] | null;
  /** Where it was configured: auth.tokens, sync.token, a generated file… (never the token). */
  source: string;
  /** Set for a grant limited to one route (its URL pattern): the token is unknown anywhere else. */
  route?: string;
}

/**
 * `cameras`: the camera ids the principal may report as (null: any camera). A camera credential
 * is a camera: its token, account or trusted network names them.
 */
export type Principal =
  | { kind: 'token'; name: string; role: Role; key: string; cameras: readonly string[] | null }
  | { kind: 'trusted'; via: 'loopback' | 'camera_network'; roles: Role[]; key: string; cameras: readonly string[] | null }
  | { kind: 'anonymous'; key: string; cameras: readonly string[] | null };

/** A trusted camera network and the cameras it may report as (null: any). */
interface CameraNetwork {
  network: string;
  list: BlockList;
  cameras: readonly string[] | null;
}

/** "*" anywhere in a scope means any camera. */
const scope = (cameras: readonly string[]): readonly string[] | null => (cameras.includes('*') ? null : [...new Set(cameras)]);

const LOOPBACK_ROLES: Role[] = ['camera', 'operator'];
const CAMERA_NETWORK_ROLES: Role[] = ['camera'];
/** The route the metrics token opens (with the operator role, as every operator token does). */
const METRICS_ROUTE = '/metrics';

export class AccessControl {
  private readonly byHash = new Map<string, TokenEntry>();
  private cameraNetworks: CameraNetwork[] = [];
  /** The generated admin token's file, when one was generated or reused. */
  adminTokenFile: string | null = null;
  /** The generated operator token's file, when one was generated or reused (no dashboard.operator_token). */
  operatorTokenFile: string | null = null;

  constructor(
    private readonly config: GatewayConfig,
    private readonly log: Logger,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /**
   * Loads every configured token; on a first start generates the admin token (with auth on and
   * none configured) and the operator token (with none configured) into 0600 files.
   */
  async start(): Promise<void> {
    const { auth, dashboard, metrics, sync } = this.config;
    this.byHash.clear();
    this.cameraNetworks = auth.camera_networks.map((n) => {
      const network = typeof n === 'string' ? n : n.network;
      return { network, list: networkList([network]), cameras: typeof n === 'string' ? null : scope(n.cameras) };
    });
    // First: when the same token is also configured with a role, that unscoped grant replaces it.
    const metricsToken = readSecret(metrics.token, metrics.token_file, 'metrics.token_file', this.env);
    if (metricsToken) this.addToken(metricsToken, { name: 'metrics', role: 'operator', source: 'metrics.token', route: METRICS_ROUTE });
    for (const t of auth.tokens) {
      // A camera token is one camera: the ones it names, else the camera its name is.
      const cameras = t.role === 'camera' ? scope(t.cameras.length ? t.cameras : [t.name]) : null;
      this.byHash.set(t.sha256, { name: t.name, role: t.role, source: 'auth.tokens', ...(t.role === 'camera' ? { cameras } : {}) });
      if (t.role === 'camera' && cameras === null) {
        this.log.warn({ token: t.name }, 'http auth: this camera token may report as ANY camera (cameras: ["*"]); name its cameras unless it is a relay');
      }
    }
    const adminFromFile = readSecret('', auth.admin_token_file, 'auth.admin_token_file', this.env);
    if (adminFromFile) this.addToken(adminFromFile, { name: 'admin', role: 'admin', source: 'auth.admin_token_file' });
    const operator = readSecret(dashboard.operator_token, dashboard.operator_token_file, 'dashboard.operator_token_file', this.env);
    if (operator) this.addToken(operator, { name: 'dashboard', role: 'operator', source: 'dashboard.operator_token' });
    const syncToken = readSecret(sync.token, sync.token_file, 'sync.token_file', this.env);
    if (syncToken) this.addToken(syncToken, { name: 'sync.token', role: 'sync', source: 'sync.token' });
    if (auth.enabled && !this.hasRoleToken('admin')) this.adminTokenFile = this.loadOrGenerateAdminToken();
    if (!operator) this.operatorTokenFile = this.loadOrGenerateOperatorToken();

    this.log.info(
      {
        enabled: auth.enabled,
        tokens: [...this.byHash.values()],
        admin_token_file: this.adminTokenFile,
      },
      auth.enabled ? 'http auth: bearer tokens required' : 'http auth is OFF (auth.enabled=false): every client has every role',
    );
    if (auth.enabled) {
      this.log.info(
        { trust_loopback: auth.trust_loopback, roles: auth.trust_loopback ? LOOPBACK_ROLES : [] },
        auth.trust_loopback
          ? 'http auth: loopback clients may report, read, label and acknowledge without a token (auth.trust_loopback)'
          : 'http auth: loopback clients need a token (auth.trust_loopback=false)',
      );
      if (this.cameraNetworks.length === 0) this.log.info({ camera_networks: [] }, 'http auth: no camera networks trusted (auth.camera_networks is empty)');
      // One line per network: what each one is trusted with.
      for (const n of this.cameraNetworks) {
        if (n.cameras === null) {
          this.log.warn(
            { network: n.network, cameras: '*' },
            'http auth: clients in auth.camera_networks may report without a token; this network as ANY camera (name its cameras: { network, cameras })',
          );
        } else {
          this.log.info(
            { network: n.network, cameras: n.cameras, fills_camera_id: n.cameras.length === 1 ? n.cameras[0] : null },
            'http auth: clients in auth.camera_networks may report without a token; this network only as the cameras listed',
          );
        }
      }
    }
  }

  async stop(): Promise<void> {}

  private loadOrGenerateAdminToken(): string {
    const { file, generated } = this.loadOrGenerate('admin-token', { name: 'admin', role: 'admin', source: 'generated' }, () => generateToken('admin'));
    if (generated) this.log.warn({ file }, 'no admin token configured: generated one into this file (mode 0600); keep it safe');
    else this.log.info({ file }, 'admin token: using the generated one in this file');
    return file;
  }

  private loadOrGenerateOperatorToken(): string {
    const { file } = this.loadOrGenerate(
      'operator-token',
      { name: 'dashboard', role: 'operator', source: 'generated' },
      () => randomBytes(24).toString('base64url'),
    );
    this.log.info({ file }, 'operator token: no dashboard.operator_token set; using the generated one in this file');
    return file;
  }

  /** The token in `<data_dir>/<name>`, or a new one written there (mode 0600) when it is absent or empty; added as `entry`. */
  private loadOrGenerate(name: string, entry: TokenEntry, make: () => string): { file: string; generated: boolean } {
    const dir = resolve(this.config.data_dir);
    const file = join(dir, name);
    const existed = existsSync(file);
    let token = existed ? readSecret('', file, name, this.env) : '';
    const generated = !token;
    if (generated) {
      mkdirSync(dir, { recursive: true });
      token = make();
      // wx: never overwrite a file that appeared meanwhile; 0600: readable by the service user only.
      writeFileSync(file, `${token}\n`, { mode: 0o600, flag: existed ? 'w' : 'wx' });
      // An existing (empty) file keeps its mode on a write.
      if (existed) chmodSync(file, 0o600);
    }
    this.addToken(token, entry);
    return { file, generated };
  }

  /** Adds a token (kept as its hash only). */
  private addToken(token: string, entry: TokenEntry): void {
    this.byHash.set(hashToken(token), entry);
  }

  /** Whether any token has `role` on every route (the pull API is on while one has the sync role). */
  hasRoleToken(role: Role): boolean {
    for (const t of this.byHash.values()) if (t.role === role && !t.route) return true;
    return false;
  }

  /** The token's entry if it is valid on `route` (a route's URL pattern, e.g. /incidents/:id). */
  private lookup(token: string, route: string): TokenEntry | null {
    const entry = this.byHash.get(hashToken(token));
    return entry && (!entry.route || entry.route === route) ? entry : null;
  }

  /** Who is asking on `route`: the token's holder (not yet checked against a role), a trusted network, or nobody. */
  private identify(token: string | null, remoteAddress: string | undefined, route: string): Principal {
    if (token) {
      const entry = this.lookup(token, route);
      if (entry) return { kind: 'token', name: entry.name, role: entry.role, key: `token:${entry.name}`, cameras: entry.cameras ?? null };
    }
    const ip = remoteAddress ?? '';
    // Loopback is the gateway itself (a local threat_cv, mosquitto_pub): any camera.
    if (this.config.auth.trust_loopback && isLoopback(ip)) return { kind: 'trusted', via: 'loopback', roles: LOOPBACK_ROLES, key: `ip:${ip}`, cameras: null };
    const matched = this.cameraNetworks.filter((n) => inNetworks(n.list, ip));
    if (matched.length > 0) {
      // In several networks: the union of what each allows.
      const cameras = matched.some((n) => n.cameras === null) ? null : [...new Set(matched.flatMap((n) => n.cameras!))];
      return { kind: 'trusted', via: 'camera_network', roles: CAMERA_NETWORK_ROLES, key: `ip:${ip}`, cameras };
    }
    return { kind: 'anonymous', key: `ip:${ip}`, cameras: null };
  }

  /**
   * Throws 401 (no, malformed or unknown token), 403 (a token without the role) or 503 (sync
   * role with no sync token) unless the request may use `route`, which declares `role`. With
   * auth.enabled false every client has every role. `authorization` is the raw header;
   * `queryToken` an `access_token` query parameter, used when there is no header.
   */
  authorize(
    role: RouteRole,
    authorization: string | undefined,
    remoteAddress: string | undefined,
    route: string,
    queryToken: string | null = null,
  ): Principal {
    const headerToken = bearerToken(authorization);
    if (headerToken === undefined) {
      throw new GatewayError(ERRORS.UNAUTHORIZED, [{ path: 'authorization', message: 'send "Authorization: Bearer <token>"' }]);
    }
    const token = headerToken ?? queryToken;
    const principal = this.identify(token, remoteAddress, route);
    if (role === 'public' || !this.config.auth.enabled) return principal;
    if (role === 'sync' && !this.hasRoleToken('sync')) throw new GatewayError(ERRORS.SYNC_DISABLED);
    if (principal.kind === 'token') {
      if (grants(principal.role, role)) return principal;
      throw new GatewayError(ERRORS.FORBIDDEN, [{ path: 'authorization', message: `this token has the ${principal.role} role; ${role} is required` }]);
    }
    if (token) throw new GatewayError(ERRORS.UNAUTHORIZED, [{ path: 'authorization', message: `the token is not valid (the ${role} role is required)` }]);
    if (principal.kind === 'trusted' && principal.roles.some((r) => grants(r, role))) return principal;
    throw new GatewayError(ERRORS.UNAUTHORIZED, [{ path: 'authorization', message: `send "Authorization: Bearer <token>" for the ${role} role` }]);
  }

  /**
   * The camera id a report posted by `principal` is stored under: the body's `camera_id` if the
   * credential may report as it (else 403 CAMERA_NOT_ALLOWED), or, for a body without one, the
   * credential's camera when it names exactly one. With auth off, or a credential for any camera,
   * the body decides. A credential for several cameras must name one.
   */
  reportingCamera(principal: Principal | null, bodyCameraId: unknown): string | null {
    const cameras = this.config.auth.enabled && principal ? principal.cameras : null;
    const given = typeof bodyCameraId === 'string' ? bodyCameraId : null;
    if (cameras === null) return given;
    const who = principal!.kind === 'token' ? `token ${principal!.name}` : 'this network';
    if (given !== null) {
      if (cameras.includes(given)) return given;
      throw new GatewayError(ERRORS.CAMERA_NOT_ALLOWED, [
        { path: 'camera_id', message: `"${given}" is not a camera of ${who} (it reports as ${cameras.join(', ')})` },
      ]);
    }
    if (cameras.length === 1) return cameras[0]!;
    throw new GatewayError(ERRORS.INVALID_REPORT, [
      { path: 'camera_id', message: `is required: ${who} reports for several cameras (${cameras.join(', ')})` },
    ]);
  }

  /** The one camera a credential is (for uploads without a camera id), else null. */
  soleCamera(principal: Principal | null): string | null {
    const cameras = this.config.auth.enabled && principal ? principal.cameras : null;
    return cameras && cameras.length === 1 ? cameras[0]! : null;
  }
}
