#!/usr/bin/env node
// Entry point: arguments, config, signals. Everything else lives in the Gateway.
import { parseArgs } from 'node:util';
import bcrypt from 'bcryptjs';
import { nodeRedPaths, resetFlows } from '../automation/node-red-host.js';
import { createBackup, restoreBackup } from '../backup/backup.js';
import { backupName } from '../backup/module.js';
import type { GatewayConfig } from '../config/schema.js';
import { loadConfig } from '../config/load.js';
import { renderDefaultConfig } from '../config/docs.js';
import { EXIT } from '../errors.js';
import { Gateway, VERSION } from '../gateway.js';
import { createLogger } from '../logger.js';
import { prepareDataDir } from '../store/data-dir.js';
import { DataDirLock } from '../store/lock.js';
import { generateToken, hashToken, isRole, ROLES } from '../security/roles.js';
import { SdNotify, Watchdog } from '../systemd/notify.js';
import { classify } from './exit.js';
import { readPassword } from './password.js';

// Every file the gateway creates (database, WAL, snapshots, backups, secrets, flows) is private
// to its user, whatever umask it was started with.
process.umask(0o077);

const USAGE = `Usage: safesphere-edge [--config FILE] [--check-config] [--print-defaults] [--version]
       safesphere-edge --reset-flows [--config FILE]
       safesphere-edge --hash-password            (prompts on a terminal; else reads stdin)
       safesphere-edge --create-token <role> [--name NAME]
       safesphere-edge backup [--out FILE] [--config FILE]
       safesphere-edge restore FILE [--config FILE]

  backup             write a consistent copy of the database, snapshots, flows and generated
                     secrets to FILE (default ./safesphere-backup-<site>-<time>.tar.gz), online:
                     the gateway may be running
  restore FILE       check FILE (manifest, SHA-256s, integrity) and restore it into data_dir,
                     setting the current contents aside; refused while a gateway runs there

  --config FILE      site config (YAML) merged over the defaults; also SAFESPHERE_CONFIG
  --check-config     validate the configuration and exit (0 valid, 78 invalid)
  --print-defaults   print config/default.yaml, every key with its default
  --reset-flows      replace the Node-RED flows in data_dir with the shipped defaults
                     (the old ones are kept as .bak-<time> files); refused while a gateway runs
  --hash-password    read a password (asked twice, not echoed, on a terminal; else one line on
                     stdin), print its bcrypt hash for nodered.admin_users and mqtt.accounts
  --create-token ROLE  create a bearer token for the HTTP API (role: camera, operator, sync or admin);
                     prints the token once, and the auth.tokens entry (its SHA-256) for the config
  --name NAME        the token holder's name in auth.tokens (default: <role>-<date>)
  --version          print the version

Any key can be set from the environment: SAFESPHERE_<SECTION>_<KEY>, e.g. SAFESPHERE_HTTP_PORT=8001.
Exit codes: 0 ok, 1 unexpected, 64 usage, 65 damaged database or backup, 69 port in use, 73 data_dir
not writable, 75 data_dir in use by another gateway, 78 invalid config, 79 database from a newer
release (README: Troubleshooting).`;

/** One line on stderr and the exit code for a failure we can name; unexpected ones keep their stack. */
function fail(err: unknown, config: GatewayConfig | null): number {
  const known = classify(err, config);
  if (!known) throw err;
  process.stderr.write(`safesphere-edge: ${known.message}\n`);
  return known.code;
}

async function main(): Promise<number> {
  let args;
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        config: { type: 'string', short: 'c' },
        'check-config': { type: 'boolean' },
        'print-defaults': { type: 'boolean' },
        version: { type: 'boolean' },
        'reset-flows': { type: 'boolean' },
        'hash-password': { type: 'boolean' },
        'create-token': { type: 'string' },
        name: { type: 'string' },
        out: { type: 'string', short: 'o' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`);
    return EXIT.USAGE;
  }
  const command = parsed.positionals[0] ?? null;
  args = parsed.values;
  if (
    (command !== null && command !== 'backup' && command !== 'restore') ||
    (command === 'backup' && parsed.positionals.length !== 1) ||
    (command === 'restore' && parsed.positionals.length !== 2) ||
    (args.out !== undefined && command !== 'backup')
  ) {
    process.stderr.write(`safesphere-edge: unexpected arguments: ${parsed.positionals.join(' ') || '--out'}\n\n${USAGE}\n`);
    return EXIT.USAGE;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (args.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (args['hash-password']) {
    const password = await readPassword();
    if (password === null) return EXIT.USAGE;
    if (password.length < 8) {
      process.stderr.write('safesphere-edge: the password must have at least 8 characters\n');
      return 64;
    }
    process.stdout.write(`${bcrypt.hashSync(password, 10)}\n`);
    return 0;
  }
  if (args['create-token'] !== undefined) {
    const role = args['create-token'];
    if (!isRole(role)) {
      process.stderr.write(`safesphere-edge: --create-token needs a role: ${ROLES.join(', ')}\n`);
      return 64;
    }
    const name = args.name ?? `${role}-${new Date().toISOString().slice(0, 10)}`;
    if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(name)) {
      process.stderr.write('safesphere-edge: --name may contain only letters, digits and _ . : - (at most 64)\n');
      return 64;
    }
    const token = generateToken(role);
    process.stdout.write(
      `token (shown once; give it to the ${role} client, it cannot be recovered):\n${token}\n\n` +
        `add to auth.tokens in the site config:\n  - { name: ${name}, role: ${role}, sha256: ${hashToken(token)} }\n`,
    );
    return 0;
  }
  if (args['print-defaults']) {
    process.stdout.write(renderDefaultConfig());
    return 0;
  }

  let config: GatewayConfig;
  try {
    config = loadConfig({ file: args.config ?? process.env.SAFESPHERE_CONFIG, env: process.env });
  } catch (err) {
    return fail(err, null);
  }
  if (args['check-config']) {
    process.stdout.write('configuration is valid\n');
    return 0;
  }
  if (args['reset-flows']) {
    let lock: DataDirLock | null = null;
    try {
      // Never under a running gateway: Node-RED would keep (and later write back) the flows it has.
      lock = DataDirLock.acquire(prepareDataDir(config.data_dir), 'reset-flows');
      const backups = resetFlows(config.data_dir, config.nodered.flows_file || undefined);
      process.stdout.write(
        `flows reset to the shipped defaults in ${nodeRedPaths(config.data_dir).flowFile}\n` +
          (backups.length ? `previous files kept as:\n${backups.map((b) => `  ${b}`).join('\n')}\n` : ''),
      );
      return 0;
    } catch (err) {
      return fail(err, config);
    } finally {
      lock?.release();
    }
  }
  if (command === 'backup') {
    try {
      const r = await createBackup(config, args.out ?? backupName(config.site_id), VERSION);
      const m = r.manifest;
      process.stdout.write(
        `backup written: ${r.file} (${r.bytes} bytes, ${m.files.length} files, ${m.db.incidents} incidents, ` +
          `schema ${m.db.schema_version}, ${r.online ? 'online copy of the running gateway' : 'gateway not running'}, ${Math.round(r.ms)} ms)\n` +
          (m.missing.length ? `${m.missing.length} snapshot file(s) named by the database were already gone (listed in the manifest)\n` : ''),
      );
      return 0;
    } catch (err) {
      return fail(err, config);
    }
  }
  if (command === 'restore') {
    try {
      const r = await restoreBackup(config, parsed.positionals[1]!);
      const m = r.manifest;
      process.stdout.write(
        `restored ${m.db.incidents} incidents, ${m.files.length} files from the backup of ${m.created_at} (site ${m.site_id}) into ${config.data_dir}\n` +
          (r.setAside ? `the previous contents were set aside in ${r.setAside}\n` : ''),
      );
      return 0;
    } catch (err) {
      return fail(err, config);
    }
  }

  const log = createLogger(config.log.level);
  const notify = new SdNotify(log.child({ component: 'systemd' }));
  const gateway = new Gateway(config, log);
  const watchdog = new Watchdog(notify, () => gateway.alive(), log.child({ component: 'systemd' }));

  let stopping: Promise<void> | null = null;
  const shutdown = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal during shutdown; exiting now');
      process.exit(1);
    }
    log.info({ signal }, 'shutting down');
    watchdog.stop();
    void notify.send('STOPPING=1', 'STATUS=stopping');
    // Never hang: whatever happens, exit shortly after the shutdown budget.
    setTimeout(() => {
      log.error('shutdown overran its budget; exiting');
      process.exit(1);
    }, config.shutdown.timeout_ms + 1000).unref();
    stopping = gateway.stop().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // SIGHUP (systemctl reload): new TLS certificates without a restart.
  process.on('SIGHUP', () => {
    log.info({ signal: 'SIGHUP' }, 'reloading');
    void notify.send('RELOADING=1');
    const result = gateway.reload();
    log.info(result, 'reload done');
    void notify.send('READY=1', 'STATUS=running');
  });
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled promise rejection'));

  try {
    await gateway.start();
  } catch (err) {
    const known = classify(err, config);
    if (known) {
      log.fatal({ exit_code: known.code }, known.message);
      process.stderr.write(`safesphere-edge: ${known.message}\n`);
      return known.code;
    }
    log.fatal({ err }, 'gateway failed to start');
    process.stderr.write(`safesphere-edge: ${(err as Error).message}\n`);
    return EXIT.FAILURE;
  }
  watchParent(log, shutdown);
  process.stderr.write(`${gateway.banner()}\n`);
  log.info(
    {
      http_port: gateway.get('http')!.port,
      mqtt_port: gateway.get('broker')!.port,
      nodered_port: gateway.get('automation')?.nodeRed.port ?? null,
      site_id: config.site_id,
    },
    'gateway started',
  );
  // Every component is up (gateway.start() resolved): only now tell systemd.
  if (notify.enabled) {
    await notify.send('READY=1', `STATUS=serving http :${gateway.get('http')!.port}, mqtt :${gateway.get('broker')!.port}`);
    watchdog.start();
  }
  return -1; // keep running
}

/**
 * Under `npm start` the daemon is npm's child: npm passes SIGTERM/SIGINT on (the start script
 * execs node), but a parent killed outright (SIGKILL, a closed terminal) cannot. Then the
 * daemon is reparented; it notices and stops, rather than holding the ports as an orphan.
 */
function watchParent(log: ReturnType<typeof createLogger>, shutdown: (signal: string) => void): void {
  if (!process.env.npm_lifecycle_event) return; // systemd, or a shell the user detached from on purpose
  const parent = process.ppid;
  if (parent <= 1) return;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    log.warn({ parent_pid: parent }, `the parent process (npm ${process.env.npm_lifecycle_event}) is gone; stopping`);
    shutdown('parent exited');
  }, 500);
  timer.unref();
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`safesphere-edge: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
