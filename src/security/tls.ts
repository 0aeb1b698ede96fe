// TLS material for every TLS listener (HTTPS API, MQTT over TLS, MQTT over wss, the Node-RED
// editor), loaded from tls.cert_file / tls.key_file and reloaded in place on SIGHUP: each
// registered server gets the new secure context; connections already open keep theirs.
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { GatewayConfig } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { secretPath } from './secrets.js';

export interface TlsCredentials {
  cert: Buffer;
  key: Buffer;
}

interface SecureServer {
  setSecureContext(options: TlsCredentials): void;
}

export class TlsManager {
  private creds: TlsCredentials | null = null;
  private readonly servers = new Map<string, SecureServer>();
  reloads = 0;

  constructor(
    private readonly config: GatewayConfig['tls'],
    private readonly log: Logger,
  ) {}

  /** Whether any listener asks for TLS. */
  get wanted(): boolean {
    const c = this.config;
    return c.http || c.mqtt || c.mqtt_ws || c.nodered;
  }

  /** Reads and checks the files (a key that does not match the cert is refused). Throws naming the file. */
  private read(): TlsCredentials {
    const { cert_file, key_file } = this.config;
    if (!cert_file || !key_file) throw new Error('tls: set tls.cert_file and tls.key_file to serve any listener over TLS');
    const load = (file: string, key: string) => {
      try {
        return readFileSync(secretPath(file));
      } catch (err) {
        throw new Error(`${key}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    };
    const creds = { cert: load(cert_file, 'tls.cert_file'), key: load(key_file, 'tls.key_file') };
    try {
      createSecureContext(creds); // throws on a bad PEM or a key that does not match
    } catch (err) {
      throw new Error(`tls: ${cert_file} / ${key_file} are not a usable certificate and key: ${(err as Error).message}`);
    }
    return creds;
  }

  /** The credentials for a listener (loaded on first use). */
  credentials(): TlsCredentials {
    this.creds ??= this.read();
    return this.creds;
  }

  /** Registers a TLS server so reload() updates it. */
  register(name: string, server: SecureServer): void {
    this.servers.set(name, server);
  }

  unregister(name: string): void {
    this.servers.delete(name);
  }

  /** The SHA-256 fingerprint of the current certificate (for logs and tests). */
  fingerprint(): string | null {
    if (!this.creds) return null;
    try {
      return new X509Certificate(this.creds.cert).fingerprint256;
    } catch {
      return createHash('sha256').update(this.creds.cert).digest('hex');
    }
  }

  /** Re-reads the files and swaps every registered server's context; on any error keeps the old one. */
  reload(): boolean {
    if (!this.wanted || this.servers.size === 0) return false;
    let next: TlsCredentials;
    try {
      next = this.read();
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'tls reload failed; keeping the current certificate');
      return false;
    }
    this.creds = next;
    for (const [name, server] of this.servers) {
      try {
        server.setSecureContext(next);
      } catch (err) {
        this.log.error({ listener: name, err: (err as Error).message }, 'tls reload failed for a listener');
      }
    }
    this.reloads++;
    this.log.info({ listeners: [...this.servers.keys()], fingerprint: this.fingerprint() }, 'tls certificate reloaded');
    return true;
  }
}
