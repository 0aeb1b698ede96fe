// The "act" stage: takes planned actions off the event bus and has Node-RED flows carry
// them out, tracking each to delivered, sent_unconfirmed, failed or timed_out.
import type { GatewayConfig } from '../config/schema.js';
import type { EventBus } from '../events/bus.js';
import type { ComponentHealth } from '../health.js';
import type { Logger } from '../logger.js';
import type { ActionPolicy } from '../policy/policy.js';
import type { Store } from '../store/store.js';
import { ActionStore } from './action-store.js';
import { DeviceMap, SirenFeedback, type Zone } from './devices.js';
import { NodeRedHost } from './node-red-host.js';
import { NodeRedThread, type EditorTls, type FlowHost } from './node-red-thread.js';
import { WeaponVocabulary } from '../scoring/vocabulary.js';
import { ActionTracker, type RouteProvider } from './tracker.js';
import type { ArmingControl, AutomationBridge, BrokerAccess, NotifyRequest, PublishOptions } from './types.js';

/** Topics a flow may not publish to through the bridge: wildcards, and broker internals. */
function checkPublishTopic(topic: string): void {
  if (typeof topic !== 'string' || topic.length === 0 || topic.length > 512) throw new Error('msg.topic must be a non-empty topic');
  if (/[+#\u0000]/.test(topic)) throw new Error(`topic "${topic}" may not contain + # or NUL`);
  if (topic.startsWith('$')) throw new Error(`topic "${topic}" is reserved`);
}

export interface AutomationOptions {
  /** The safe route a safe_route action carries (site operations). */
  routeProvider?: RouteProvider;
  /** Action types another stage carries out (src/notify/): never dispatched to flows, not required of them. */
  ownedElsewhere?: (type: string) => boolean;
  /** The durable delivery queue, for the `safesphere notify` node. */
  notify?: (request: NotifyRequest) => { queued: number; undeliverable: number };
  /** Builds the editor's server (HTTPS when tls.nodered is on), in-process mode. */
  editorServer?: ConstructorParameters<typeof NodeRedHost>[6];
  /** The editor's TLS material and reload registration (tls.nodered), worker mode. */
  editorTls?: EditorTls;
  /** The arming mode for the safesphere arming node. */
  arming?: ArmingControl;
  /** The monitoring station, for the safesphere arc node (src/arc/). */
  arc?: AutomationBridge['arc'];
}

export class Automation {
  readonly tracker: ActionTracker;
  readonly nodeRed: FlowHost;
  private readonly actionStore: ActionStore;
  private unsubscribe: (() => void)[] = [];
  private readonly ownedElsewhere: (type: string) => boolean;
  private readonly feedback: SirenFeedback;
  private readonly broker: BrokerAccess;

  constructor(
    private readonly config: GatewayConfig,
    zones: readonly Zone[],
    store: Store,
    private readonly policy: ActionPolicy,
    private readonly bus: EventBus,
    broker: BrokerAccess,
    private readonly log: Logger,
    options: AutomationOptions = {},
  ) {
    this.actionStore = new ActionStore(store.actions, log);
    this.ownedElsewhere = options.ownedElsewhere ?? (() => false);
    this.tracker = new ActionTracker(
      config.automation,
      new DeviceMap(config.devices, zones),
      this.actionStore,
      bus,
      log,
      options.routeProvider ?? null,
      this.ownedElsewhere,
      new WeaponVocabulary(config.scoring.firearm_terms),
    );
    const tracker = this.tracker;
    this.feedback = new SirenFeedback(config.devices.sirens);
    this.broker = broker;
    const bridge: AutomationBridge = {
      registerActionNode: (handle) => tracker.registerActionNode(handle),
      registerIncidentNode: (handle) => tracker.registerIncidentNode(handle),
      reportResult: (result) => tracker.reportResult(result),
      ...(options.notify ? { notify: options.notify } : {}),
      publish: async (topic: string, payload: Buffer | string, options: PublishOptions = {}) => {
        checkPublishTopic(topic);
        await broker.publish(topic, Buffer.isBuffer(payload) ? payload : Buffer.from(payload), {
          qos: options.qos ?? 1,
          retain: options.retain ?? false,
        });
      },
      ...(options.arming ? { arming: options.arming } : {}),
      ...(options.arc ? { arc: options.arc } : {}),
    };
    // Its own thread by default (another core; a stuck flow cannot block ingest), or on this one.
    this.nodeRed =
      config.nodered.isolation === 'worker'
        ? new NodeRedThread(config, broker, bridge, log.child({ subsystem: 'node-red' }), (running) => tracker.setFlowsRunning(running), options.editorTls ?? null)
        : new NodeRedHost(
            config.nodered,
            config.data_dir,
            broker,
            bridge,
            log.child({ subsystem: 'node-red' }),
            (running) => tracker.setFlowsRunning(running),
            options.editorServer,
            config.limits,
          );
    // Listen from construction: reports can arrive while Node-RED boots, and their
    // actions must wait as pending rather than be missed. (Subscribing is not I/O.)
    this.unsubscribe = [
      this.bus.on('incident.stored', ({ incident, actions }) => this.tracker.incidentStored(incident, actions)),
      this.bus.on('action.planned', ({ incident, action }) => this.tracker.actionPlanned(incident, action)),
    ];
  }

  async start(): Promise<void> {
    // Resume what the last run left open: those wait as pending until the flows have
    // registered their nodes.
    // Sirens with feedback: their state echoes deliver the siren actions waiting for them.
    if (this.feedback.configured && this.broker.observe) {
      this.unsubscribe.push(
        this.broker.observe((topic, payload) => {
          for (const id of this.feedback.echoed(topic, payload)) this.tracker.sirenEcho(id, topic);
        }),
      );
    }
    const { resumed, expired } = this.tracker.resume(this.actionStore.loadOpen());
    if (resumed + expired > 0) this.log.info({ resumed, expired }, 'picked up actions left open by the last run');
    await this.nodeRed.start();
  }

  async stop(): Promise<void> {
    for (const off of this.unsubscribe) off();
    this.unsubscribe = [];
    try {
      await this.nodeRed.stop();
    } finally {
      this.tracker.close();
      this.actionStore.close();
    }
  }

  health(): ComponentHealth {
    const uncovered = this.tracker.uncoveredTypes(this.policy.actionTypes().filter((t) => !this.ownedElsewhere(t)));
    const lastTimeout = this.tracker.stats.last_timeout_at;
    const recentTimeout = lastTimeout !== null && Date.now() - lastTimeout < this.config.automation.degraded_window_s * 1000;
    const problems: string[] = [];
    if (!this.nodeRed.isRunning) problems.push('node-red is not running');
    if (uncovered.length > 0) problems.push(`no deployed flow handles: ${uncovered.join(', ')}`);
    if (recentTimeout) problems.push('actions timed out recently');
    return {
      status: !this.nodeRed.isRunning ? 'down' : problems.length > 0 ? 'degraded' : 'up',
      ...(problems.length > 0 ? { problems } : {}),
      action_nodes: this.tracker.registeredActionNodes,
      uncovered_action_types: uncovered,
      ...this.tracker.stats,
      last_timeout_at: lastTimeout === null ? null : new Date(lastTimeout).toISOString(),
    };
  }
}
