// Arming and Home Assistant over MQTT.
//
// The command topic safesphere/gateway/arming/set is taken inside the embedded broker's
// authorizePublish (MqttBroker.handleCommand), so the sender's account is known for the audit
// and the ACL (admin or keypad, src/security/mqtt.ts) has already run. Payloads: Home
// Assistant's actions (DISARM, ARM_HOME, ARM_AWAY, ARM_NIGHT, ARM_VACATION), a mode name, or
// JSON {"action"|"mode", "code", "source"}. Subscribers get the command without its code; the
// outcome goes to safesphere/gateway/arming/result.
//
// With homeassistant.enabled, discovery and the entities' states are published on the
// embedded broker (and on the upstream broker with homeassistant.upstream), re-sent when Home
// Assistant's birth message arrives, and entities that left the config are removed with an
// empty retained config (from the topics stored at the last publish, and from any retained
// config under our node id that the broker still holds, as zigbee2mqtt does).
import type { MqttClient } from 'mqtt';
import type { ArmingMode, GatewayConfig, ThreatLevel } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import type { EventBus } from '../events/bus.js';
import type { Logger } from '../logger.js';
import type { MqttIdentity } from '../security/mqtt.js';
import type { Store } from '../store/store.js';
import type { StoredIncident } from '../store/types.js';
import type { UpstreamMqtt } from '../sync/mqtt-bridge.js';
import { topicMatches } from '../sync/mqtt-bridge.js';
import type { MqttBroker } from '../transport/mqtt/broker.js';
import { configuredCameras, discoveryEntries, haId, stateTopics, type ChannelTopics } from './discovery.js';
import { isArmingMode, type ArmingService, type ArmingVia } from './service.js';

export const ARMING_COMMAND_TOPIC = 'safesphere/gateway/arming/set';
const EMBEDDED_BASE = 'safesphere/gateway';

const ACTIONS: Record<string, ArmingMode> = {
  DISARM: 'disarmed',
  ARM_HOME: 'armed_home',
  ARM_AWAY: 'armed_away',
  ARM_NIGHT: 'armed_night',
  ARM_VACATION: 'armed_vacation',
};

export interface ArmingCommand {
  mode: unknown;
  code: string | null;
  source: string | null;
  by: string | null;
}

/** Parses a command payload; `mode` is whatever was asked (the service refuses unknown modes). */
export function parseArmingCommand(payload: Buffer): ArmingCommand {
  const text = payload.toString('utf8').trim();
  if (text.startsWith('{')) {
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return { mode: text, code: null, source: null, by: null };
    }
    const asked = typeof o.action === 'string' ? (ACTIONS[o.action.toUpperCase()] ?? o.action) : o.mode;
    const code = typeof o.code === 'string' && o.code !== '' ? o.code : typeof o.code === 'number' ? String(o.code) : typeof o.pin === 'string' ? o.pin : null;
    return { mode: asked, code, source: typeof o.source === 'string' ? o.source : null, by: typeof o.by === 'string' ? o.by.slice(0, 128) : null };
  }
  return { mode: ACTIONS[text.toUpperCase()] ?? text, code: null, source: null, by: null };
}

const whoOf = (who: MqttIdentity & { clientId: string }): string =>
  who.kind === 'account' ? who.username : who.kind === 'anonymous-loopback' ? `anonymous@${who.remote}` : 'gateway';

/** One broker the Home Assistant entities live on. */
interface Channel {
  name: 'embedded' | 'upstream';
  topics: ChannelTopics;
  publish(topic: string, payload: string, options: { qos: 0 | 1; retain: boolean }): Promise<void>;
  subscribe(filter: string, handler: (topic: string, payload: Buffer) => void): void;
  readonly connected: boolean;
  /** Last value published per retained state topic, so refreshes publish only changes. */
  last: Map<string, string>;
}

export interface HomeAssistantDeps {
  config: GatewayConfig;
  version: string;
  arming: ArmingService;
  broker: MqttBroker;
  store: Store;
  bus: EventBus;
  /** The upstream bridge's connection once sync has started (null without upstream.mqtt). */
  upstream: () => UpstreamMqtt | null;
  /** Acknowledges an incident as an operator would (src/operations/), and wakes the feed. */
  acknowledge: ((incidentId: string, by: string, note: string) => void) | null;
  log: Logger;
}

export class ArmingMqtt {
  private session: MqttClient | null = null;
  private readonly channels: Channel[] = [];
  private readonly offs: (() => void)[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly sirenTimers = new Map<string, NodeJS.Timeout>();
  private readonly sirenState = new Map<string, 'ON' | 'OFF'>();
  readonly stats = { commands: 0, refused: 0, discovery_published: 0, discovery_removed: 0, acknowledged: 0, siren_commands: 0 };

  constructor(private readonly d: HomeAssistantDeps) {
    // Registered at build time: the broker takes the topic from its first client on.
    this.offs.push(d.broker.handleCommand(ARMING_COMMAND_TOPIC, (payload, who) => this.command(payload, who)));
  }

  private get ha(): GatewayConfig['homeassistant'] {
    return this.d.config.homeassistant;
  }

  async start(): Promise<void> {
    const { broker, arming } = this.d;
    const session = await broker.internalSession({ clientId: `safesphere-arming-${process.pid}`, clean: true });
    this.session = session;
    const handlers = new Set<{ filter: string; handler: (topic: string, payload: Buffer) => void }>();
    session.on('message', (topic, payload) => {
      for (const h of handlers) if (topicMatches(h.filter, topic)) h.handler(topic, payload);
    });
    const embedded: Channel = {
      name: 'embedded',
      topics: { base: EMBEDDED_BASE, availability: 'safesphere/gateway/status', armingCommand: ARMING_COMMAND_TOPIC },
      publish: (topic, payload, options) => session.publishAsync(topic, payload, options).then(() => undefined),
      subscribe: (filter, handler) => {
        handlers.add({ filter, handler });
        session.subscribe(filter, { qos: 1 });
      },
      connected: true,
      last: new Map(),
    };
    this.channels.push(embedded);
    // The arming state is published whether or not discovery is on: keypads read it.
    this.offs.push(arming.onChange(() => void this.publishArming()));
    await this.publishArming();

    // Sirens: what the gateway (flows, Home Assistant) commanded, and what a device reports.
    embedded.subscribe('safesphere/sirens/+/set', (topic, payload) => this.sirenSeen(topic.split('/')[2]!, payload));
    embedded.subscribe('safesphere/sirens/+/state', (topic, payload) => this.sirenSeen(topic.split('/')[2]!, payload));

    if (!this.ha.enabled) return;
    const up = this.d.upstream();
    if (this.ha.upstream && up) {
      const upstream: Channel = {
        name: 'upstream',
        topics: { base: up.siteBase, availability: up.statusTopic, armingCommand: `${up.siteBase}/arming/set` },
        publish: (topic, payload, options) => up.publish(topic, payload, options),
        subscribe: (filter, handler) => void this.offs.push(up.subscribe(filter, handler)),
        get connected() {
          return up.connected;
        },
        last: new Map(),
      };
      this.channels.push(upstream);
      // Commands from the cloud's Home Assistant: no broker account to name, the PIN still applies.
      upstream.subscribe(upstream.topics.armingCommand, (_t, payload) => void this.command(payload, null, upstream));
      this.offs.push(
        up.onConnect(() => {
          upstream.last.clear();
          void this.announce(upstream);
        }),
      );
    } else if (this.ha.upstream) {
      this.d.log.warn('homeassistant.upstream is on but upstream.mqtt is not enabled: discovery goes to the embedded broker only');
    }
    for (const ch of this.channels) {
      const s = stateTopics(ch.topics.base);
      ch.subscribe(`${this.ha.discovery_prefix}/status`, (_t, payload) => {
        if (payload.toString().trim().toLowerCase() !== 'online') return;
        this.d.log.info({ broker: ch.name }, 'Home Assistant came online; sending discovery again');
        ch.last.clear();
        void this.announce(ch);
      });
      ch.subscribe(`${this.ha.discovery_prefix}/+/${haId(`safesphere_${this.d.config.site_id}`)}/+/config`, (topic, payload) => {
        if (payload.length > 0 && !this.currentTopics(ch).has(topic)) void this.removeConfig(ch, topic);
      });
      ch.subscribe(s.acknowledge, () => void this.acknowledgeNewest(ch.name));
      for (const siren of this.d.config.devices.sirens) ch.subscribe(s.sirenCommand(siren.id), (_t, payload) => void this.sirenCommand(siren.id, payload, ch.name));
    }
    this.offs.push(this.d.bus.on('incident.stored', ({ incident }) => void this.incidentStored(incident)));
    this.timer = setInterval(() => void this.refresh(), this.ha.refresh_s * 1000);
    this.timer.unref();
    await Promise.all(this.channels.filter((c) => c.connected).map((c) => this.announce(c)));
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const t of this.sirenTimers.values()) clearTimeout(t);
    this.sirenTimers.clear();
    for (const off of this.offs.splice(0)) off();
    this.channels.length = 0;
    const s = this.session;
    this.session = null;
    await s?.endAsync().catch(() => undefined);
  }

  // ------------------------------------------------------------------ commands

  /** The arming command from any broker; `who` is null for the upstream broker. */
  private async command(payload: Buffer, who: (MqttIdentity & { clientId: string }) | null, channel?: Channel): Promise<Buffer> {
    this.stats.commands++;
    const cmd = parseArmingCommand(payload);
    const via: ArmingVia = cmd.source === 'homeassistant' ? 'homeassistant' : 'mqtt';
    const by = who ? whoOf(who) : `upstream:${cmd.by ?? 'homeassistant'}`;
    const result: Record<string, unknown> = { at: new Date().toISOString(), by, via, asked: cmd.mode };
    try {
      const change = await this.d.arming.set(cmd.mode, { by, via, pin: cmd.code });
      Object.assign(result, { ok: true, changed: change !== null, mode: this.d.arming.mode });
    } catch (err) {
      this.stats.refused++;
      const e = err instanceof GatewayError ? err : null;
      Object.assign(result, { ok: false, mode: this.d.arming.mode, error: { code: e?.code ?? 'INTERNAL', message: (err as Error).message, details: e?.details ?? [] } });
      if (!e) this.d.log.error({ err }, 'arming command failed');
    }
    const targets = channel ? [channel] : this.channels.filter((c) => c.name === 'embedded');
    for (const ch of targets) void ch.publish(stateTopics(ch.topics.base).armingResult, JSON.stringify(result), { qos: 0, retain: false }).catch(() => undefined);
    // Subscribers see what was asked, never the code.
    return Buffer.from(JSON.stringify({ mode: isArmingMode(cmd.mode) ? cmd.mode : String(cmd.mode).slice(0, 64), by, via }));
  }

  private async acknowledgeNewest(from: string): Promise<void> {
    const ack = this.d.acknowledge;
    if (!ack) return;
    const newest = this.open().find((i) => i.status === null);
    if (!newest) {
      this.d.log.info({ broker: from }, 'acknowledge pressed in Home Assistant with no unacknowledged open incident');
      return;
    }
    ack(newest.incident_id, 'homeassistant', 'acknowledged from Home Assistant');
    this.stats.acknowledged++;
    this.d.log.info({ incident_id: newest.incident_id, broker: from }, 'incident acknowledged from Home Assistant');
    await this.refresh();
  }

  /** Home Assistant's siren schema {"state","duration","tone","volume_level"} or ours {"state","duration_s"}, or plain ON/OFF. */
  private async sirenCommand(id: string, payload: Buffer, from: string): Promise<void> {
    const text = payload.toString('utf8').trim();
    let o: Record<string, unknown> = {};
    if (text.startsWith('{')) {
      try {
        o = JSON.parse(text) as Record<string, unknown>;
      } catch {
        this.d.log.warn({ siren: id, payload: text.slice(0, 200) }, 'siren command is not JSON; ignored');
        return;
      }
    } else o = { state: text };
    const state = String(o.state ?? '').toUpperCase();
    if (state !== 'ON' && state !== 'OFF') {
      this.d.log.warn({ siren: id, state: o.state }, 'siren command without state ON or OFF; ignored');
      return;
    }
    const siren = this.d.config.devices.sirens.find((s) => s.id === id)!;
    const raw = typeof o.duration === 'number' ? o.duration : typeof o.duration_s === 'number' ? o.duration_s : siren.duration_s;
    const duration = Math.min(3600, Math.max(0.05, raw));
    const command: Record<string, unknown> = { state, source: from === 'embedded' ? 'homeassistant' : `homeassistant-${from}` };
    if (state === 'ON') command.duration_s = duration;
    if (o.tone !== undefined) command.tone = o.tone;
    if (typeof o.volume_level === 'number') command.volume_level = o.volume_level;
    this.stats.siren_commands++;
    clearTimeout(this.sirenTimers.get(id));
    this.sirenTimers.delete(id);
    await this.d.broker.publish({ topic: `safesphere/sirens/${id}/set`, payload: Buffer.from(JSON.stringify(command)), qos: 1, retain: false });
    if (state === 'ON') {
      const t = setTimeout(() => {
        this.sirenTimers.delete(id);
        void this.d.broker
          .publish({ topic: `safesphere/sirens/${id}/set`, payload: Buffer.from(JSON.stringify({ state: 'OFF', source: command.source })), qos: 1, retain: false })
          .catch(() => undefined);
      }, duration * 1000);
      t.unref();
      this.sirenTimers.set(id, t);
    }
  }

  /** A command to, or a report from, a siren on the embedded broker: its state for Home Assistant. */
  private sirenSeen(id: string, payload: Buffer): void {
    if (!this.d.config.devices.sirens.some((s) => s.id === id)) return;
    const text = payload.toString('utf8').trim();
    let state: unknown = text;
    if (text.startsWith('{')) {
      try {
        state = (JSON.parse(text) as { state?: unknown }).state;
      } catch {
        return;
      }
    }
    const s = String(state).toUpperCase();
    if (s !== 'ON' && s !== 'OFF') return;
    this.sirenState.set(id, s);
    for (const ch of this.channels) void this.publishRetained(ch, stateTopics(ch.topics.base).sirenState(id), s);
  }

  // ------------------------------------------------------------------ states

  private open() {
    const since = new Date(Date.now() - this.d.config.site.active_window_s * 1000).toISOString();
    return this.d.store.arming.openIncidents(['CRITICAL', 'HIGH', 'MEDIUM'], since);
  }

  /** The alarm panel's state: the mode, or `triggered` while an unacknowledged HIGH/CRITICAL incident is open. */
  alarmState(open = this.open()): string {
    return open.some((i) => (i.threat_level === 'HIGH' || i.threat_level === 'CRITICAL') && i.status === null) ? 'triggered' : this.d.arming.mode;
  }

  private async publishRetained(ch: Channel, topic: string, payload: string, force = false): Promise<void> {
    if (!ch.connected) return;
    if (!force && ch.last.get(topic) === payload) return;
    try {
      await ch.publish(topic, payload, { qos: 1, retain: true });
      ch.last.set(topic, payload);
    } catch (err) {
      this.d.log.debug({ err, topic, broker: ch.name }, 'publishing a Home Assistant state failed');
    }
  }

  private async publishArming(open = this.ha.enabled ? this.open() : []): Promise<void> {
    const status = this.d.arming.status();
    const state = this.alarmState(open);
    const attributes = JSON.stringify({ ...status, state, open_incidents: open.length });
    for (const ch of this.channels) {
      const s = stateTopics(ch.topics.base);
      await this.publishRetained(ch, s.armingState, state);
      await this.publishRetained(ch, s.armingAttributes, attributes);
    }
  }

  /** Open incidents, zone threats and the panel's triggered state; only changes are published. */
  async refresh(): Promise<void> {
    if (!this.ha.enabled) return;
    const open = this.open();
    const active = new Set<string>();
    const zoneOf = new Map<string, string>();
    for (const z of this.d.config.zones) for (const c of z.cameras) if (!zoneOf.has(c)) zoneOf.set(c, z.id);
    for (const i of open) {
      if (i.threat_level === 'MEDIUM' || i.camera_id === null) continue;
      const z = zoneOf.get(i.camera_id);
      if (z) active.add(z);
    }
    const newest = open[0];
    const summary = JSON.stringify({
      count: open.length,
      unacknowledged: open.filter((i) => i.status === null).length,
      by_level: Object.fromEntries((['CRITICAL', 'HIGH', 'MEDIUM'] as ThreatLevel[]).map((l) => [l, open.filter((i) => i.threat_level === l).length])),
      newest: newest ? { incident_id: newest.incident_id, level: newest.threat_level, camera_id: newest.camera_id, at: newest.created_at, acknowledged: newest.status !== null } : null,
    });
    for (const ch of this.channels) {
      const s = stateTopics(ch.topics.base);
      await this.publishRetained(ch, s.openIncidents, summary);
      for (const z of this.d.config.zones) await this.publishRetained(ch, s.zoneThreat(z.id), active.has(z.id) ? 'ON' : 'OFF');
    }
    await this.publishArming(open);
  }

  private cameraState(incident: Pick<StoredIncident, 'incident_id' | 'threat_level' | 'threat_score' | 'created_at'>): string {
    return JSON.stringify({ level: incident.threat_level, score: incident.threat_score, incident_id: incident.incident_id, at: incident.created_at });
  }

  private async incidentStored(incident: StoredIncident): Promise<void> {
    const camera = incident.camera_id;
    if (camera && configuredCameras(this.d.config).includes(camera)) {
      const event = JSON.stringify({
        event_type: incident.threat_level.toLowerCase(),
        incident_id: incident.incident_id,
        level: incident.threat_level,
        score: incident.threat_score,
        reported_level: incident.reported_level,
        weapon_detected: incident.weapon_detected,
        weapon_types: JSON.parse(incident.weapon_types) as string[],
        behavior_summary: incident.behavior_summary,
        people_count: incident.people_count,
        action_taken: incident.action_taken,
        arming_mode: this.d.arming.mode,
        at: incident.created_at,
      });
      for (const ch of this.channels) {
        if (!ch.connected) continue;
        const s = stateTopics(ch.topics.base);
        await ch.publish(s.cameraEvent(camera), event, { qos: 1, retain: false }).catch(() => undefined);
        await this.publishRetained(ch, s.cameraState(camera), this.cameraState(incident));
      }
    }
    await this.refresh();
  }

  // ------------------------------------------------------------------ discovery

  private entries(ch: Channel) {
    return discoveryEntries(this.d.config, this.d.version, ch.topics);
  }

  private currentTopics(ch: Channel): Set<string> {
    return new Set(this.entries(ch).map((e) => e.topic));
  }

  private async removeConfig(ch: Channel, topic: string): Promise<void> {
    try {
      await ch.publish(topic, '', { qos: 1, retain: true });
      this.stats.discovery_removed++;
      this.d.log.info({ topic, broker: ch.name }, 'Home Assistant entity removed (no longer in the config)');
    } catch (err) {
      this.d.log.warn({ err, topic }, 'removing a Home Assistant entity failed');
    }
  }

  /** Removes what left the config, publishes every config, then every state. */
  async announce(ch: Channel): Promise<void> {
    if (!ch.connected) return;
    const entries = this.entries(ch);
    const current = new Set(entries.map((e) => e.topic));
    for (const old of this.d.store.arming.discoveryTopics(ch.name)) if (!current.has(old)) await this.removeConfig(ch, old);
    for (const e of entries) {
      try {
        await ch.publish(e.topic, JSON.stringify(e.payload), { qos: 1, retain: true });
        this.stats.discovery_published++;
      } catch (err) {
        this.d.log.warn({ err, topic: e.topic, broker: ch.name }, 'publishing Home Assistant discovery failed');
        return;
      }
    }
    this.d.store.arming.setDiscoveryTopics(ch.name, current);
    // States after the configs, so Home Assistant has subscribed when they come (they are retained anyway).
    const s = stateTopics(ch.topics.base);
    for (const camera of configuredCameras(this.d.config)) {
      const newest = this.d.store.arming.newestOfCamera(camera);
      if (newest) await this.publishRetained(ch, s.cameraState(camera), this.cameraState(newest), true);
    }
    for (const siren of this.d.config.devices.sirens) await this.publishRetained(ch, s.sirenState(siren.id), this.sirenState.get(siren.id) ?? 'OFF', true);
    ch.last.delete(s.armingState);
    ch.last.delete(s.armingAttributes);
    ch.last.delete(s.openIncidents);
    for (const z of this.d.config.zones) ch.last.delete(s.zoneThreat(z.id));
    await this.refresh();
  }
}
