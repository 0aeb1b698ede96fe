// Node-RED in its own thread (nodered.isolation: worker): the flows use another core, and a
// flow that throws, loops forever or kills its thread never blocks ingest. This side owns
// the thread: it starts it, answers its bridge calls (flow-channel.ts), hands it actions
// through proxy node handles registered with the tracker, watches it with a heartbeat, and
// when it dies or stalls logs it, gives its nodes' in-flight actions back (they are
// dispatched again to the restarted thread's nodes) and restarts it.
import { Worker } from 'node:worker_threads';
import type { GatewayConfig } from '../config/schema.js';
import type { Logger } from '../logger.js';
import type { TlsCredentials } from '../security/tls.js';
import type { CallMethod, FlowWorkerData, FromFlows, ToFlows } from './flow-channel.js';
import { nodeRedPaths, type NodeRedPaths } from './node-red-host.js';
import type { AutomationBridge } from './types.js';

/** Restart delays after unexpected deaths in a row, capped. */
const RESTART_BACKOFF_MS = [200, 1000, 5000, 15000];
const STOP_TIMEOUT_MS = 10_000;

export interface EditorTls {
  credentials(): TlsCredentials;
  /** Registers a reload target under a TLS manager name (nodered, nodered-lan). */
  register(name: string, target: { setSecureContext(c: TlsCredentials): void }): void;
}

export interface FlowHost {
  readonly port: number;
  readonly lanPort: number;
  readonly isRunning: boolean;
  readonly paths: NodeRedPaths;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** memory.nodered_young_generation_mb (0: V8's default, which grows to 48 MB and keeps it). */
function limits(data: FlowWorkerData): { maxYoungGenerationSizeMb?: number } {
  const young = data.memory.nodered_young_generation_mb;
  return young > 0 ? { maxYoungGenerationSizeMb: young } : {};
}

/** The worker's entry: the compiled .js, or the .ts source through tsx (tests run the sources). */
function spawnWorker(data: FlowWorkerData): Worker {
  const self = import.meta.url;
  if (self.endsWith('.ts')) {
    const entry = new URL('./node-red-worker.ts', self).href;
    const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); })`;
    return new Worker(boot, { eval: true, workerData: data, resourceLimits: limits(data) });
  }
  return new Worker(new URL('./node-red-worker.js', self), { workerData: data, resourceLimits: limits(data) });
}

export class NodeRedThread implements FlowHost {
  private worker: Worker | null = null;
  private running = false;
  private stopping = false;
  private ports = { port: 0, lanPort: 0 };
  /** The proxies this thread's nodes registered with the tracker: token → unregister. */
  private nodes = new Map<number, () => void>();
  private heartbeat: NodeJS.Timeout | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private lastPong = 0;
  private pingSeq = 0;
  private deathsInARow = 0;
  private armingOff: (() => void) | null = null;
  readonly paths: NodeRedPaths;
  readonly stats = { starts: 0, deaths: 0, stalls: 0 };

  constructor(
    private readonly config: GatewayConfig,
    private readonly broker: { host: string; port: () => number },
    private readonly bridge: AutomationBridge,
    private readonly log: Logger,
    private readonly onFlowsRunning: (running: boolean) => void,
    private readonly tls: EditorTls | null,
  ) {
    this.paths = nodeRedPaths(config.data_dir);
  }

  get port(): number {
    return this.ports.port;
  }

  get lanPort(): number {
    return this.ports.lanPort;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Resolves once the thread's flows run (as NodeRedHost.start); rejects if it fails to start. */
  async start(): Promise<void> {
    this.stopping = false;
    const arming = this.bridge.arming;
    if (arming && !this.armingOff) {
      this.armingOff = arming.onChange((change) => this.post({ t: 'arming', mode: arming.mode(), change }));
    }
    await this.launch(true);
  }

  private launch(initial = false): Promise<void> {
    const host = this.broker.host === '0.0.0.0' || this.broker.host === '::' ? '127.0.0.1' : this.broker.host;
    const data: FlowWorkerData = {
      nodered: this.config.nodered,
      limits: this.config.limits,
      memory: this.config.memory,
      dataDir: this.config.data_dir,
      logLevel: this.log.level,
      broker: { host, port: this.broker.port() },
      tls: this.tls ? this.tls.credentials() : null,
      hasNotify: this.bridge.notify !== undefined,
      arming: this.bridge.arming ? { mode: this.bridge.arming.mode() } : null,
      arc: this.bridge.arc ? this.bridge.arc.describe() : null,
    };
    const worker = spawnWorker(data);
    this.worker = worker;
    this.stats.starts++;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err?: Error) => {
        if (settled) return;
        settled = true;
        if (err) reject(err);
        else resolve();
      };
      worker.on('message', (message: FromFlows) => {
        if (this.worker !== worker) return;
        if (message.t === 'started') {
          this.ports = { port: message.port, lanPort: message.lanPort };
          this.running = true;
          this.deathsInARow = 0;
          this.watch(worker);
          this.registerTls();
          this.log.info({ port: message.port, thread: worker.threadId }, 'node-red thread started');
          settle();
          return;
        }
        if (message.t === 'start-failed') {
          // Not a death to restart from: the start itself failed (bad flows file, port in use).
          this.worker = null;
          void worker.terminate();
          settle(new Error(message.error));
          return;
        }
        this.handle(worker, message);
      });
      worker.on('error', (err) => {
        if (this.worker === worker) this.log.error({ err }, 'node-red thread failed');
      });
      worker.on('exit', (code) => {
        if (this.worker !== worker) return;
        const early = !settled && initial;
        if (early) this.worker = null; // the first start failed: start() rejects, nothing to restart
        else this.lost(worker, code);
        settle(new Error(`node-red thread exited with code ${code} before its flows started`));
      });
    });
  }

  private handle(worker: Worker, message: FromFlows): void {
    switch (message.t) {
      case 'action-node':
        this.nodes.set(
          message.token,
          this.bridge.registerActionNode({
            id: message.id,
            filter: message.filter,
            deliver: (m) => this.post({ t: 'deliver', token: message.token, message: m }, worker),
          }),
        );
        return;
      case 'incident-node':
        this.nodes.set(
          message.token,
          this.bridge.registerIncidentNode({ id: message.id, deliver: (incident) => this.post({ t: 'incident', token: message.token, incident }, worker) }),
        );
        return;
      case 'node-gone':
        this.nodes.get(message.token)?.();
        this.nodes.delete(message.token);
        return;
      case 'flows':
        this.onFlowsRunning(message.running);
        return;
      case 'call':
        this.answer(worker, message.seq, message.method, message.args);
        return;
      case 'pong':
        this.lastPong = Date.now();
        return;
      case 'log':
        this.relog(message.line);
        return;
      case 'started':
      case 'start-failed':
      case 'stopped':
        return;
    }
  }

  private answer(worker: Worker, seq: number, method: CallMethod, args: unknown[]): void {
    const reply = (work: () => unknown) => {
      Promise.resolve()
        .then(work)
        .then(
          (value) => this.post({ t: 'reply', seq, ok: true, value }, worker),
          (err: Error) => this.post({ t: 'reply', seq, ok: false, error: err?.message ?? String(err) }, worker),
        );
    };
    const bridge = this.bridge;
    switch (method) {
      case 'publish': {
        const [topic, payload, options] = args as [string, string | Uint8Array, { qos?: 0 | 1; retain?: boolean }];
        return reply(() => bridge.publish(topic, typeof payload === 'string' ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), options));
      }
      case 'reportResult':
        return reply(() => bridge.reportResult(args[0] as Parameters<AutomationBridge['reportResult']>[0]));
      case 'notify':
        return reply(() => {
          if (!bridge.notify) throw new Error('notify is off');
          return bridge.notify(args[0] as Parameters<NonNullable<AutomationBridge['notify']>>[0]);
        });
      case 'arming.set':
        return reply(() => {
          if (!bridge.arming) throw new Error('arming is off');
          return bridge.arming.set(args[0], String(args[1]));
        });
      case 'arc.send':
        return reply(() => {
          if (!bridge.arc) throw new Error('no monitoring station is configured');
          return bridge.arc.send(args[0] as Record<string, unknown>);
        });
    }
  }

  private relog(line: string): void {
    try {
      const { level, time: _time, msg, service: _service, pid: _pid, hostname: _hostname, ...fields } = JSON.parse(line) as Record<string, unknown>;
      const label = this.log.levels.labels[Number(level)] as 'info' | undefined;
      (this.log[label ?? 'info'] as (o: object, m?: string) => void).call(this.log, fields, typeof msg === 'string' ? msg : undefined);
    } catch {
      this.log.warn({ line: line.slice(0, 500) }, 'unreadable log line from the node-red thread');
    }
  }

  private post(message: ToFlows, to: Worker | null = this.worker): void {
    // A message for a thread that has gone is dropped: its nodes were unregistered, so what it carried is pending again.
    if (to && to === this.worker) to.postMessage(message);
  }

  private registerTls(): void {
    if (!this.tls) return;
    this.tls.register('nodered', { setSecureContext: (credentials) => this.post({ t: 'tls', which: 'host', credentials }) });
    if (this.config.nodered.lan_host) {
      this.tls.register('nodered-lan', { setSecureContext: (credentials) => this.post({ t: 'tls', which: 'lan_host', credentials }) });
    }
  }

  /** Heartbeat: a thread whose event loop answers nothing for worker_stall_ms (a flow in a loop) is restarted. */
  private watch(worker: Worker): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    const stallMs = this.config.nodered.worker_stall_ms;
    this.lastPong = Date.now();
    this.heartbeat = setInterval(() => {
      if (this.worker !== worker) return;
      if (Date.now() - this.lastPong > stallMs) {
        this.stats.stalls++;
        this.log.error({ stall_ms: stallMs, thread: worker.threadId }, 'node-red thread stopped answering (a flow stuck in a loop?); restarting it');
        void worker.terminate();
        return;
      }
      this.post({ t: 'ping', seq: ++this.pingSeq }, worker);
    }, Math.max(100, Math.floor(stallMs / 4)));
    this.heartbeat.unref();
  }

  /** The thread is gone: its nodes' actions go back to pending, and (unless stopping) it is restarted. */
  private lost(worker: Worker, code: number): void {
    this.worker = null;
    this.running = false;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    this.onFlowsRunning(false);
    const nodes = [...this.nodes.values()];
    this.nodes.clear();
    for (const unregister of nodes) unregister();
    if (this.stopping) return;
    this.stats.deaths++;
    const delay = RESTART_BACKOFF_MS[Math.min(this.deathsInARow, RESTART_BACKOFF_MS.length - 1)]!;
    this.deathsInARow++;
    this.log.error({ code, thread: worker.threadId, restart_in_ms: delay, nodes: nodes.length }, 'node-red thread died; its in-flight actions wait for the restarted flows');
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.stopping) return;
      this.launch().catch((err: Error) => this.log.error({ err: err.message }, 'restarting the node-red thread failed'));
    }, delay);
    this.restartTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.armingOff?.();
    this.armingOff = null;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const worker = this.worker;
    if (!worker) return;
    // Flows stop as in-process mode stops them (node close handlers run), within a time limit.
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    let timer: NodeJS.Timeout | undefined;
    const stopped = new Promise<void>((resolve) => {
      worker.on('message', (m: FromFlows) => m.t === 'stopped' && resolve());
      timer = setTimeout(resolve, STOP_TIMEOUT_MS);
    });
    worker.postMessage({ t: 'stop' } satisfies ToFlows);
    await stopped;
    clearTimeout(timer);
    await worker.terminate();
    await exited;
  }
}
