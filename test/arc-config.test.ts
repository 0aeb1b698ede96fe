// Bad monitoring-station config stops the start with exit 78, naming each key (as
// test/config.test.ts does for the rest of the config): an account that is not hex, a key of the
// wrong length (inline, or read from arc.key_file at start), a port out of range.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/load.js';
import { tempDir } from './helpers.js';

function problemsOf(overrides: Record<string, unknown>): string[] {
  try {
    loadConfig({ overrides });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

const run = (file: string, dir: string, env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'src/bin/safesphere-edge.ts', '--config', file], {
    env: { ...process.env, SAFESPHERE_DATA_DIR: dir, SAFESPHERE_HTTP_PORT: '0', SAFESPHERE_MQTT_PORT: '0', SAFESPHERE_HTTP_HOST: '127.0.0.1', SAFESPHERE_MQTT_HOST: '127.0.0.1', SAFESPHERE_NODERED_ENABLED: 'false', ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });

describe('arc config', () => {
  it('is off by default, and checks account and key only once a receiver is set', () => {
    expect(loadConfig().arc.primary.host).toBe('');
    expect(problemsOf({ arc: { account: 'not hex' } })).toEqual([]);
    expect(problemsOf({ arc: { account: '5A7', primary: { host: '127.0.0.1' }, key: '00112233445566778899AABBCCDDEEFF' } })).toEqual([]);
    expect(problemsOf({ arc: { account: '5A7', primary: { host: '127.0.0.1' }, key: '0123456789abcdef', key_format: 'ascii' } })).toEqual([]);
  });

  it('names each bad key: account not hex, key of the wrong length, port out of range, a backup that is the primary', () => {
    const problems = problemsOf({
      arc: { account: 'ACME-1', key: '00112233', primary: { host: '10.0.0.5', port: 70000 }, backup: { host: '10.0.0.5', port: 12300 }, receiver: 'XYZ' },
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'arc.primary.port: must be <= 65535',
        expect.stringMatching(/^arc\.receiver: must match pattern/),
        'arc.account: "ACME-1" is not an account number (3 to 16 hex digits, 0-9 and A-F)',
        'arc.key: is 8 hex digits; AES-128/192/256 take 32, 48 or 64',
      ]),
    );
    expect(problemsOf({ arc: { account: 'ACME-1', key: '00112233', primary: { host: '10.0.0.5' }, backup: { host: '10.0.0.5' } } })).toEqual([
      'arc.account: "ACME-1" is not an account number (3 to 16 hex digits, 0-9 and A-F)',
      'arc.key: is 8 hex digits; AES-128/192/256 take 32, 48 or 64',
      'arc.backup.host: the backup path is the primary receiver; a second path must be a different receiver',
    ]);
    expect(problemsOf({ arc: { account: '5A7', key: 'short', key_format: 'ascii', primary: { host: '10.0.0.5' } } })).toEqual(['arc.key: is 5 characters; AES-128/192/256 take 16, 24 or 32']);
  });

  it('refuses to start with exit 78 naming each key', () => {
    const dir = tempDir();
    const file = join(dir, 'site.yaml');
    writeFileSync(file, 'arc:\n  account: "12G4"\n  key: "0011"\n  primary: { host: 127.0.0.1, port: 0 }\n');
    const r = run(file, dir, { SAFESPHERE_ARC_BACKUP_PORT: '99999' });
    expect(r.status).toBe(78);
    expect(r.stderr).toContain('arc.primary.port: must be >= 1');
    expect(r.stderr).toContain('arc.backup.port: must be <= 65535');
    expect(r.stderr).toContain('arc.account: "12G4" is not an account number');
    expect(r.stderr).toContain('arc.key: is 4 hex digits');
    expect(r.stdout).not.toContain('gateway started');
  }, 60_000);

  it('a key read from arc.key_file is checked at start: exit 78 naming arc.key_file', () => {
    const dir = tempDir();
    const file = join(dir, 'site.yaml');
    writeFileSync(join(dir, 'arc.key'), '00112233445566778899AABBCCDDEE\n');
    writeFileSync(file, `arc:\n  account: "5A7"\n  key_file: ${join(dir, 'arc.key')}\n  primary: { host: 127.0.0.1, port: 12300 }\n  supervision_s: 0\n`);
    const r = run(file, dir);
    expect(r.status).toBe(78);
    expect(r.stderr).toContain('arc.key_file: the key is 30 hex digits; AES-128/192/256 take 32, 48 or 64');
    expect(r.stdout).not.toContain('gateway started');
  }, 60_000);
});
