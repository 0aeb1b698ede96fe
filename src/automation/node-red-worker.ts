// The Node-RED thread (nodered.isolation: worker). Runs the same NodeRedHost as in-process
// mode (editor, login, credentials and flows in the same places), with a bridge whose every
// call crosses the channel in flow-channel.ts to the gateway's thread, where the tracker,
// the broker, notify and arming live. Started only as a worker: importing it elsewhere does nothing.
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { LogLevel } from '../config/schema.js';
import { createLogger } from '../logger.js';
import type { CallMethod, FlowWorkerData, FromFlows, ToFlows } from './flow-channel.js';
import { NodeRedHost } from './node-red-host.js';
import { idleCollectorFor } from '../memory/idle-collector.js';
import { disableMqttNumberCache, NODE_RED_MQTT_LIBRARIES } from '../memory/mqtt-cache.js';
import type { ActionMessage, ActionNodeHandle, AutomationBridge, IncidentNodeHandle } from './types.js';

function run(port: NonNullable<typeof parentPort>, data: FlowWorkerData): void {
  const send = (message: FromFlows) => port.postMessage(message);
  const lines = { write: (line: string) => (send({ t: 'log', line }), true) } as unknown as NodeJS.WritableStream;
  const log = createLogger(data.logLevel as LogLevel, lines).child({ thread: 'node-red' });
  // As the daemon does on its own thread: a flow's forgotten rejection is logged, not fatal.
  // An uncaught exception does end this thread; the gateway restarts it (node-red-thread.ts).
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled promise rejection'));
  // This thread's own isolate: its own mqtt-packet and heap (src/memory/).
  if (!data.memory.mqtt_number_cache) disableMqttNumberCache(NODE_RED_MQTT_LIBRARIES);
  const collector = idleCollectorFor(data.memory, log);
  collector?.start();
  const actionNodes = new Map<number, ActionNodeHandle>();
  const incidentNodes = new Map<number, IncidentNodeHandle>();
  const calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextToken = 1;
  let nextSeq = 1;

  const call = (method: CallMethod, ...args: unknown[]): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const seq = nextSeq++;
      calls.set(seq, { resolve, reject });
      send({ t: 'call', seq, method, args });
    });

  let armingMode = data.arming?.mode ?? '';
  const armingListeners = new Set<(change: Record<string, unknown>) => void>();

  const bridge: AutomationBridge = {
    registerActionNode(handle) {
      const token = nextToken++;
      actionNodes.set(token, handle);
      send({ t: 'action-node', token, id: handle.id, filter: handle.filter });
      return () => {
        if (actionNodes.delete(token)) send({ t: 'node-gone', token });
      };
    },
    registerIncidentNode(handle) {
      const token = nextToken++;
      incidentNodes.set(token, handle);
      send({ t: 'incident-node', token, id: handle.id });
      return () => {
        if (incidentNodes.delete(token)) send({ t: 'node-gone', token });
      };
    },
    // The answer comes from the tracker on the other thread: the result node awaits it.
    reportResult: (result) => call('reportResult', result) as ReturnType<AutomationBridge['reportResult']>,
    publish: async (topic, payload, options) => {
      await call('publish', topic, typeof payload === 'string' ? payload : new Uint8Array(payload), options ?? {});
    },
    ...(data.hasNotify ? { notify: (request) => call('notify', request) as ReturnType<NonNullable<AutomationBridge['notify']>> } : {}),
    ...(data.arc ? { arc: { send: (event) => call('arc.send', event) as Promise<Record<string, unknown>>, describe: () => data.arc! } } : {}),
    ...(data.arming
      ? {
          arming: {
            mode: () => armingMode,
            set: (mode: unknown, by: string) => call('arming.set', mode, by) as ReturnType<NonNullable<AutomationBridge['arming']>['set']>,
            onChange: (listener: (change: Record<string, unknown>) => void) => {
              armingListeners.add(listener);
              return () => armingListeners.delete(listener);
            },
          },
        }
      : {}),
  };

  const editors = new Map<'host' | 'lan_host', HttpsServer>();
  const host = new NodeRedHost(
    data.nodered,
    data.dataDir,
    { host: data.broker.host, port: () => data.broker.port },
    bridge,
    log,
    (running) => send({ t: 'flows', running }),
    data.tls
      ? (app, which) => {
          const server = createHttpsServer({ ...data.tls!, headersTimeout: data.limits.http_headers_timeout_ms }, app);
          editors.set(which, server);
          return server;
        }
      : undefined,
    data.limits,
  );

  const deliverTo = <H extends { id: string }>(nodes: Map<number, H>, token: number, give: (h: H) => void) => {
    const handle = nodes.get(token);
    if (!handle) return; // it closed (a redeploy) after the gateway sent this: the tracker hands the action back
    try {
      give(handle);
    } catch (err) {
      log.warn({ err, node: handle.id }, 'node failed to take a message');
    }
  };

  port.on('message', (message: ToFlows) => {
    switch (message.t) {
      case 'deliver':
        return deliverTo(actionNodes, message.token, (h) => h.deliver(message.message as ActionMessage));
      case 'incident':
        return deliverTo(incidentNodes, message.token, (h) => h.deliver(message.incident));
      case 'reply': {
        const pending = calls.get(message.seq);
        calls.delete(message.seq);
        if (!pending) return;
        if (message.ok) pending.resolve(message.value);
        else pending.reject(new Error(message.error));
        return;
      }
      case 'arming':
        armingMode = message.mode;
        for (const listener of armingListeners) listener(message.change);
        return;
      case 'tls':
        editors.get(message.which)?.setSecureContext(message.credentials);
        return;
      case 'ping':
        return send({ t: 'pong', seq: message.seq });
      case 'stop':
        collector?.stop();
        host.stop().then(
          () => send({ t: 'stopped' }),
          (err: Error) => {
            log.warn({ err }, 'node-red did not stop cleanly');
            send({ t: 'stopped' });
          },
        );
        return;
    }
  });

  host.start().then(
    () => {
      collector?.settle(); // Node-RED's load and the flows' start are this thread's start-up garbage
      send({ t: 'started', port: host.port, lanPort: host.lanPort });
    },
    (err: Error) => send({ t: 'start-failed', error: err.message }),
  );
}

if (!isMainThread && parentPort && (workerData as { nodered?: unknown } | null)?.nodered) run(parentPort, workerData as FlowWorkerData);
