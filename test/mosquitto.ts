// Runs a real Mosquitto (Debian's `mosquitto` package) for tests: its own config and
// persistence in a temp dir, on a free loopback port, started and stopped on demand.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { tempDir } from './helpers.js';

/** Debian installs it in /usr/sbin, which is not on every user's PATH. */
const BIN = existsSync('/usr/sbin/mosquitto') ? '/usr/sbin/mosquitto' : 'mosquitto';

export function mosquittoAvailable(): boolean {
  return spawnSync(BIN, ['-h'], { stdio: 'ignore' }).error === undefined;
}

/** A port the kernel just handed out on 127.0.0.1, released for the broker to take. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export class Mosquitto {
  readonly dir = tempDir('safesphere-mosquitto-');
  private child: ChildProcess | null = null;
  log = '';

  constructor(readonly port: number) {
    writeFileSync(
      join(this.dir, 'mosquitto.conf'),
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        // Started as root (CI), mosquitto would switch to the mosquitto user, which cannot
        // write its persistence file in our temp dir; as any other user this is ignored.
        'user root',
        'persistence true',
        `persistence_location ${this.dir}/`,
        // Keep every message queued for an offline persistent session.
        'max_queued_messages 0',
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        'log_type notice',
        'log_type information',
        '',
      ].join('\n'),
    );
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Starts the broker and resolves once it says it is running (its listener is open by then). */
  start(timeoutMs = 10_000): Promise<void> {
    const child = spawn(BIN, ['-c', join(this.dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`mosquitto did not start within ${timeoutMs} ms:\n${this.log}`)), timeoutMs);
      child.stderr!.on('data', (chunk: Buffer) => {
        this.log += chunk.toString();
        if (/mosquitto version \S+ running/.test(this.log.split('\n').slice(-5).join('\n'))) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`mosquitto exited with ${code}:\n${this.log}`));
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** Stops it with `signal` (SIGTERM saves its persistence file first) and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    child.removeAllListeners('exit');
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }
}
