#!/usr/bin/env node
// Entry point: arguments, config, signals. Everything else lives in the Gateway.
import { parseArgs } from 'node:util';
import bcrypt from 'bcryptjs';
import { nodeRedPaths, resetFlows } from '../automation/node-red-host.js';
import { ConfigError, loadConfig } from '../config/load.js';
import { renderDefaultConfig } from '../config/docs.js';
import { Gateway, VERSION } from '../gateway.js';
import { createLogger } from '../logger.js';
import { StoreOpenError } from '../store/store.js';
import { generateToken, hashToken, isRole, ROLES } from '../security/roles.js';
import { SdNotify, Watchdog } from '../systemd/notify.js';

/** sysexits.h EX_CONFIG: the configuration is wrong; restarting will not help. */
const EXIT_CONFIG = 78;
/** sysexits.h EX_DATAERR: the database file is damaged; restarting will not help (the unit does not restart on it). */
const EXIT_DATA = 65;

const USAGE = `Usage: safesphere-edge [--config FILE] [--check-config] [--print-defaults] [--version]
       safesphere-edge --reset-flows [--config FILE]
       safesphere-edge --hash-password < password
       safesphere-edge --create-token <role> [--name NAME]

  --config FILE      site config (YAML) merged over the defaults; also SAFESPHERE_CONFIG
  --check-config     validate the configuration and exit (0 valid, 78 invalid)
  --print-defaults   print config/default.yaml, every key with its default
  --reset-flows      replace the Node-RED flows in data_dir with the shipped defaults
                     (the old ones are kept as .bak-<time> files); run it while the gateway is stopped
  --hash-password    read a password on stdin, print its bcrypt hash for nodered.admin_users
                     and mqtt.accounts
  --create-token ROLE  create a bearer token for the HTTP API (role: camera, operator, sync or admin);
                     prints the token once, and the auth.tokens entry (its SHA-256) for the config
  --name NAME        the token holder's name in auth.tokens (default: <role>-<date>)
  --version          print the version

Any key can be set from the environment: SAFESPHERE_<SECTION>_<KEY>, e.g. SAFESPHERE_HTTP_PORT=8001.`;

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        config: { type: 'string', short: 'c' },
        'check-config': { type: 'boolean' },
        'print-defaults': { type: 'boolean' },
        version: { type: 'boolean' },
        'reset-flows': { type: 'boolean' },
        'hash-password': { type: 'boolean' },
        'create-token': { type: 'string' },
        name: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`);
    return 64;
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
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
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

  let config;
  try {
    config = loadConfig({ file: args.config ?? process.env.SAFESPHERE_CONFIG, env: process.env });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`safesphere-edge: ${err.message}\n`);
      return EXIT_CONFIG;
    }
    throw err;
  }
  if (args['check-config']) {
    process.stdout.write('configuration is valid\n');
    return 0;
  }
  if (args['reset-flows']) {
    const backups = resetFlows(config.data_dir, config.nodered.flows_file || undefined);
    process.stdout.write(
      `flows reset to the shipped defaults in ${nodeRedPaths(config.data_dir).flowFile}\n` +
        (backups.length ? `previous files kept as:\n${backups.map((b) => `  ${b}`).join('\n')}\n` : ''),
    );
    return 0;
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
    log.fatal({ err }, 'gateway failed to start');
    process.stderr.write(`safesphere-edge: ${(err as Error).message}\n`);
    return err instanceof StoreOpenError ? EXIT_DATA : 1;
  }
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

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`safesphere-edge: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
