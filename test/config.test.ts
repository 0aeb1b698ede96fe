import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderDefaultConfig } from '../src/config/docs.js';
import { ConfigError, configLeaves, envName, loadConfig } from '../src/config/load.js';
import { tempDir } from './helpers.js';

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig();
    expect(config).toMatchObject({
      site_id: 'site-1',
      data_dir: './data',
      http: { host: '0.0.0.0', port: 8000 },
      mqtt: { host: '0.0.0.0', port: 1883 },
      log: { level: 'info' },
      report: { max_payload_bytes: 262144 },
    });
    expect(config.policy.CRITICAL.status).toBe('EMERGENCY_PROTOCOL');
    expect(config.policy.LOW.actions).toEqual([]);
  });

  it('merges a site file over the defaults, then environment overrides over both', () => {
    const dir = tempDir();
    const file = join(dir, 'site.yaml');
    writeFileSync(file, 'site_id: depot-north\nhttp:\n  port: 9000\nmqtt:\n  host: 127.0.0.1\n');
    const config = loadConfig({
      file,
      env: { SAFESPHERE_HTTP_PORT: '8001', SAFESPHERE_DATA_DIR: '/var/lib/safesphere', PATH: '/usr/bin' },
    });
    expect(config.site_id).toBe('depot-north');
    expect(config.http.port).toBe(8001);
    expect(config.http.host).toBe('0.0.0.0');
    expect(config.mqtt).toMatchObject({ host: '127.0.0.1', port: 1883 });
    expect(config.data_dir).toBe('/var/lib/safesphere');
  });

  it('takes top-level keys without a section and JSON for arrays', () => {
    const actions = [{ type: 'log_only', description: 'Log it' }];
    const config = loadConfig({
      env: { SAFESPHERE_SITE_ID: 'gate-2', SAFESPHERE_POLICY_LOW_ACTIONS: JSON.stringify(actions) },
    });
    expect(config.site_id).toBe('gate-2');
    expect(config.policy.LOW.actions).toEqual(actions);
  });

  it('names every bad key and value at once', () => {
    const dir = tempDir();
    const file = join(dir, 'site.yaml');
    writeFileSync(file, 'http:\n  port: 70000\n  prot: 1\nmqtt:\n  port: abc\nlog:\n  level: loud\nbogus: true\n');
    const problems = problemsOf(() => loadConfig({ file, env: { SAFESPHERE_SITE_ID: 'bad/id', SAFESPHERE_NOPE: '1' } }));
    expect(problems).toEqual(
      expect.arrayContaining([
        'http.port: must be <= 65535',
        'http.prot: unknown key',
        'mqtt.port: must be integer',
        'log.level: must be one of fatal, error, warn, info, debug, trace, silent',
        'bogus: unknown key',
        'site_id: must match pattern "^[A-Za-z0-9_.:-]+$" (SAFESPHERE_SITE_ID="bad/id")',
        'SAFESPHERE_NOPE: unknown environment override (no such config key)',
      ]),
    );
    expect(problems).toHaveLength(7);
  });

  it('reports a file that is not YAML, and JSON that does not parse in an override', () => {
    const dir = tempDir();
    const file = join(dir, 'site.yaml');
    writeFileSync(file, 'http: [unclosed\n');
    expect(problemsOf(() => loadConfig({ file }))[0]).toContain(file);
    expect(problemsOf(() => loadConfig({ env: { SAFESPHERE_POLICY_LOW_ACTIONS: '[oops' } }))[0]).toMatch(
      /^policy\.LOW\.actions \(from SAFESPHERE_POLICY_LOW_ACTIONS\)/,
    );
  });

  it('maps every key to a distinct environment variable', () => {
    const names = configLeaves().map((l) => envName(l.path));
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(expect.arrayContaining(['SAFESPHERE_HTTP_PORT', 'SAFESPHERE_DATA_DIR', 'SAFESPHERE_SITE_ID', 'SAFESPHERE_LOG_LEVEL']));
  });

  it('keeps config/default.yaml in step with the schema (npm run config:docs)', () => {
    const committed = readFileSync(new URL('../config/default.yaml', import.meta.url), 'utf8');
    expect(committed).toBe(renderDefaultConfig());
    // And the documented file is itself a valid site config.
    expect(() => loadConfig({ file: new URL('../config/default.yaml', import.meta.url).pathname })).not.toThrow();
  });

  it('refuses to start on a bad config with exit code 78, listing every problem', () => {
    const dir = tempDir();
    const file = join(dir, 'site.yaml');
    writeFileSync(file, 'http:\n  port: -1\nunknown_section: {}\n');
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/bin/safesphere-edge.ts', '--config', file], {
      env: { ...process.env, SAFESPHERE_DATA_DIR: dir, SAFESPHERE_MQTT_PORT: '99999' },
      encoding: 'utf8',
      timeout: 180_000, // a guard against a hang, not a limit: tsx compiles first (about 25 s under arm64 emulation)
    });
    expect(run.status).toBe(78);
    expect(run.stderr).toContain('http.port: must be >= 0');
    expect(run.stderr).toContain('unknown_section: unknown key');
    expect(run.stderr).toContain('mqtt.port: must be <= 65535');
    expect(run.stdout).not.toContain('gateway started');
  });
});
