// Secrets (tokens, passwords, keys) come from the config, the environment (through the
// config's SAFESPHERE_* overrides), files, or systemd credentials (LoadCredential=). A
// file path may be `credential:<name>`, read from $CREDENTIALS_DIRECTORY/<name>; in the
// unit file `%d/<name>` gives the same directory.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The path a secret file setting names, resolving `credential:<name>`. */
export function secretPath(file: string, env: NodeJS.ProcessEnv = process.env): string {
  const m = /^credential:([A-Za-z0-9_.-]+)$/.exec(file);
  if (!m) return file;
  const dir = env.CREDENTIALS_DIRECTORY;
  if (!dir) throw new Error(`${file}: $CREDENTIALS_DIRECTORY is not set (is the service started with LoadCredential=${m[1]}:…?)`);
  return join(dir, m[1]!);
}

/** The secret: `value` if set, else the trimmed content of `file` (''). Throws naming `key`, never the secret. */
export function readSecret(value: string, file: string, key: string, env: NodeJS.ProcessEnv = process.env): string {
  if (value) return value;
  if (!file) return '';
  let path = file;
  try {
    path = secretPath(file, env);
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new Error(`${key}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
