// HTTP access control: who a request is (a bearer token with a role, a trusted network, or
// nobody) and whether that grants the role its route declares. Tokens are kept only as
// SHA-256 hashes. The sync pull API's token (sync.token) is one more token with the sync role.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
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
  /** Where it was configured: auth.tokens, sync.token, a generated file… (never the token). */
  source: string;
}

export type Principal =
  | { kind: 'token'; name: string; role: Role; key: string }
  | { kind: 'trusted'; via: 'loopback' | 'camera_network'; roles: Role[]; key: string }
  | { kind: 'anonymous'; key: string };

/** Another component's own check of a token it issued (e.g. the dashboard's operator token). */
export type TokenVerifier = (token: string, role: Role, url: string) => boolean;

const LOOPBACK_ROLES: Role[] = ['camera', 'operator'];
const CAMERA_NETWORK_ROLES: Role[] = ['camera'];

export class AccessControl {
  private readonly byHash = new Map<string, TokenEntry>();
  private readonly verifiers = new Map<string, TokenVerifier>();
  private cameraNetworks: BlockList | null = null;
  /** The generated admin token's file, when one was generated or reused. */
  adminTokenFile: string | null = null;

  constructor(
    private readonly config: GatewayConfig,
    private readonly log: Logger,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  get enabled(): boolean {
    return this.config.auth.enabled;
  }

  /** Loads every configured token; on a first start with no admin token, generates one into a 0600 file. */
  async start(): Promise<void> {
    const { auth } = this.config;
    this.byHash.clear();
    this.cameraNetworks = networkList(auth.camera_networks);
    for (const t of auth.tokens) this.byHash.set(t.sha256, { name: t.name, role: t.role, source: 'auth.tokens' });
    const adminFromFile = readSecret('', auth.admin_token_file, 'auth.admin_token_file', this.env);
    if (adminFromFile) this.addToken(adminFromFile, 'admin', 'admin', 'auth.admin_token_file');
    const dash = readSecret(this.config.dashboard.operator_token, this.config.dashboard.operator_token_file, 'dashboard.operator_token_file', this.env);
    if (dash) this.addToken(dash, 'dashboard', 'operator', 'dashboard.operator_token');
    if (auth.enabled && !this.hasRoleToken('admin')) this.adminTokenFile = this.loadOrGenerateAdminToken();

    this.log.info(
      {
        enabled: auth.enabled,
        tokens: [...this.byHash.values()].map((t) => ({ name: t.name, role: t.role, source: t.source })),
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
      this.log.info(
        { camera_networks: auth.camera_networks },
        auth.camera_networks.length
          ? 'http auth: clients in auth.camera_networks may report without a token'
          : 'http auth: no camera networks trusted (auth.camera_networks is empty)',
      );
    }
  }

  async stop(): Promise<void> {}

  private loadOrGenerateAdminToken(): string {
    const file = join(resolve(this.config.data_dir), 'admin-token');
    let token = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
    if (!token) {
      mkdirSync(resolve(this.config.data_dir), { recursive: true });
      token = generateToken('admin');
      // wx: never overwrite; 0600: readable by the service user only.
      const fd = openSync(file, 'wx', 0o600);
      try {
        writeSync(fd, `${token}\n`);
      } finally {
        closeSync(fd);
      }
      this.log.warn({ file }, 'no admin token configured: generated one into this file (mode 0600); keep it safe');
    } else {
      this.log.info({ file }, 'admin token: using the generated one in this file');
    }
    this.addToken(token, 'admin', 'admin', 'generated');
    return file;
  }

  /** Adds a token (kept as its hash only). */
  addToken(token: string, name: string, role: Role, source: string): void {
    this.byHash.set(hashToken(token), { name, role, source });
  }

  /** A component that checks tokens it issued itself; asked when a token is not one of ours. */
  addVerifier(name: string, verify: TokenVerifier): void {
    this.verifiers.set(name, verify);
  }

  hasRoleToken(role: Role): boolean {
    for (const t of this.byHash.values()) if (t.role === role) return true;
    return false;
  }

  lookup(token: string): TokenEntry | null {
    return this.byHash.get(hashToken(token)) ?? null;
  }

  /** Who is asking: the token's holder (not yet checked against a role), a trusted network, or nobody. */
  identify(token: string | null, remoteAddress: string | undefined): Principal {
    if (token) {
      const entry = this.lookup(token);
      if (entry) return { kind: 'token', name: entry.name, role: entry.role, key: `token:${entry.name}` };
    }
    const ip = remoteAddress ?? '';
    if (this.config.auth.trust_loopback && isLoopback(ip)) return { kind: 'trusted', via: 'loopback', roles: LOOPBACK_ROLES, key: `ip:${ip}` };
    if (this.cameraNetworks && inNetworks(this.cameraNetworks, ip)) {
      return { kind: 'trusted', via: 'camera_network', roles: CAMERA_NETWORK_ROLES, key: `ip:${ip}` };
    }
    return { kind: 'anonymous', key: `ip:${ip}` };
  }

  /**
   * Throws 401 (no or unknown token), 403 (a token without the role) or 503 (sync role with
   * the pull API off) unless the request may use a route that declares `role`.
   * `authorization` is the raw header; `queryToken` an `access_token` query parameter.
   */
  authorize(
    role: RouteRole,
    authorization: string | undefined,
    remoteAddress: string | undefined,
    url = '',
    queryToken: string | null = null,
  ): Principal {
    const headerToken = bearerToken(authorization);
    if (headerToken === undefined) {
      throw new GatewayError(ERRORS.UNAUTHORIZED, [{ path: 'authorization', message: 'send "Authorization: Bearer <token>"' }]);
    }
    const token = headerToken ?? queryToken;
    const principal = this.identify(token, remoteAddress);
    if (role === 'public' || !this.config.auth.enabled) return principal;
    if (role === 'sync' && !this.hasRoleToken('sync')) throw new GatewayError(ERRORS.SYNC_DISABLED);
    if (principal.kind === 'token') {
      if (grants(principal.role, role)) return principal;
      throw new GatewayError(ERRORS.FORBIDDEN, [{ path: 'authorization', message: `this token has the ${principal.role} role; ${role} is required` }]);
    }
    if (token) {
      for (const verify of this.verifiers.values()) {
        if (verify(token, role, url)) return { kind: 'token', name: 'external', role, key: `token:external:${hashToken(token).slice(0, 16)}` };
      }
      throw new GatewayError(ERRORS.UNAUTHORIZED, [{ path: 'authorization', message: `the token is not valid (the ${role} role is required)` }]);
    }
    if (principal.kind === 'trusted' && principal.roles.includes(role as Role)) return principal;
    throw new GatewayError(ERRORS.UNAUTHORIZED, [{ path: 'authorization', message: `send "Authorization: Bearer <token>" for the ${role} role` }]);
  }

  /** For the sync pull routes' own check (src/sync/auth.ts): the header's token must grant `role`. */
  authorizeHeader(authorization: string | undefined, role: Role): void {
    const token = bearerToken(authorization);
    if (!token) throw new GatewayError(ERRORS.UNAUTHORIZED, [{ path: 'authorization', message: `send "Authorization: Bearer <${role} token>"` }]);
    const entry = this.lookup(token);
    if (!entry) throw new GatewayError(ERRORS.UNAUTHORIZED, [{ path: 'authorization', message: `the token is not valid for the ${role} role` }]);
    if (!grants(entry.role, role)) {
      throw new GatewayError(ERRORS.FORBIDDEN, [{ path: 'authorization', message: `this token has the ${entry.role} role; ${role} is required` }]);
    }
  }
}
