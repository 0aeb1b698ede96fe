// Home Assistant MQTT discovery payloads for one gateway: a device "SafeSphere Edge <site_id>"
// with an alarm panel, per camera an event entity and two sensors (last level, last score),
// per zone a "threat active" binary sensor, a siren per configured siren, an acknowledge
// button and an open-incidents sensor. Field names follow Home Assistant's MQTT integration
// docs (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery and each platform's
// page); the shape of unique_id/device/origin/availability follows zigbee2mqtt's
// lib/extension/homeassistant.ts. Pure: what to publish, not how.
import type { GatewayConfig } from '../config/schema.js';

/** Topics under one broker: the state base and the availability topic with online/offline. */
export interface ChannelTopics {
  /** e.g. safesphere/gateway (embedded) or safesphere/sites/<site_id> (upstream). */
  base: string;
  availability: string;
  /** The arming command topic on this broker. */
  armingCommand: string;
}

export interface DiscoveryEntry {
  component: 'alarm_control_panel' | 'event' | 'sensor' | 'binary_sensor' | 'siren' | 'button';
  objectId: string;
  topic: string;
  payload: Record<string, unknown>;
}

export const EVENT_TYPES = ['low', 'medium', 'high', 'critical'] as const;

/** Home Assistant's node_id/object_id may hold only [a-zA-Z0-9_-]. */
export const haId = (s: string): string => s.replace(/[^A-Za-z0-9_-]/g, '_');

export const stateTopics = (base: string) => ({
  armingState: `${base}/arming/state`,
  armingAttributes: `${base}/arming`,
  armingResult: `${base}/arming/result`,
  cameraEvent: (id: string) => `${base}/ha/cameras/${id}/event`,
  cameraState: (id: string) => `${base}/ha/cameras/${id}/state`,
  zoneThreat: (id: string) => `${base}/ha/zones/${id}/threat`,
  sirenCommand: (id: string) => `${base}/ha/sirens/${id}/set`,
  sirenState: (id: string) => `${base}/ha/sirens/${id}/state`,
  acknowledge: `${base}/ha/acknowledge`,
  openIncidents: `${base}/ha/open_incidents`,
});

/** Cameras that get entities: those in zones, the camera accounts, and homeassistant.cameras. */
export function configuredCameras(config: GatewayConfig): string[] {
  const ids = new Set<string>();
  for (const z of config.zones) for (const c of z.cameras) ids.add(c);
  for (const a of config.mqtt.accounts) if (a.role === 'camera') ids.add(a.id || a.username);
  for (const c of config.homeassistant.cameras) ids.add(c);
  return [...ids].sort();
}

export function discoveryEntries(config: GatewayConfig, version: string, t: ChannelTopics): DiscoveryEntry[] {
  const prefix = config.homeassistant.discovery_prefix.replace(/\/+$/, '');
  const site = config.site_id;
  const node = haId(`safesphere_${site}`);
  const s = stateTopics(t.base);
  const common = {
    device: {
      identifiers: [`safesphere_edge_${site}`],
      name: `SafeSphere Edge ${site}`,
      manufacturer: 'SafeSphere',
      model: 'SafeSphere Edge gateway',
      sw_version: version,
    },
    origin: { name: 'SafeSphere Edge', sw_version: version, support_url: 'https://github.com/safesphere/safesphere-edge' },
    availability: [{ topic: t.availability, payload_available: 'online', payload_not_available: 'offline' }],
  };
  const entry = (component: DiscoveryEntry['component'], object: string, payload: Record<string, unknown>): DiscoveryEntry => {
    const objectId = haId(object);
    return {
      component,
      objectId,
      topic: `${prefix}/${component}/${node}/${objectId}/config`,
      payload: { ...payload, unique_id: `${node}_${objectId}`, object_id: `${node}_${objectId}`, ...common },
    };
  };
  const pin = config.arming.pin_hash !== '';
  const entries: DiscoveryEntry[] = [
    entry('alarm_control_panel', 'arming', {
      name: 'Arming',
      state_topic: s.armingState,
      command_topic: t.armingCommand,
      // The gateway checks the PIN (REMOTE_CODE: Home Assistant shows a keypad and sends the code).
      command_template: '{"action":"{{ action }}","code":"{{ code }}","source":"homeassistant"}',
      supported_features: ['arm_home', 'arm_away', 'arm_night', 'arm_vacation'],
      ...(pin ? { code: 'REMOTE_CODE' } : {}),
      code_arm_required: false,
      code_disarm_required: pin,
      json_attributes_topic: s.armingAttributes,
    }),
    entry('sensor', 'open_incidents', {
      name: 'Open incidents',
      state_topic: s.openIncidents,
      value_template: '{{ value_json.count }}',
      json_attributes_topic: s.openIncidents,
      state_class: 'measurement',
      icon: 'mdi:shield-alert',
    }),
    entry('button', 'acknowledge', {
      name: 'Acknowledge newest incident',
      command_topic: s.acknowledge,
      payload_press: 'PRESS',
      icon: 'mdi:check-circle',
    }),
  ];
  for (const camera of configuredCameras(config)) {
    entries.push(
      entry('event', `camera_${camera}_threat`, {
        name: `${camera} threat`,
        state_topic: s.cameraEvent(camera),
        event_types: [...EVENT_TYPES],
        icon: 'mdi:cctv',
      }),
      entry('sensor', `camera_${camera}_level`, {
        name: `${camera} last level`,
        state_topic: s.cameraState(camera),
        value_template: '{{ value_json.level }}',
        json_attributes_topic: s.cameraState(camera),
        device_class: 'enum',
        options: ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'],
      }),
      entry('sensor', `camera_${camera}_score`, {
        name: `${camera} last score`,
        state_topic: s.cameraState(camera),
        value_template: '{{ value_json.score }}',
        state_class: 'measurement',
      }),
    );
  }
  for (const zone of config.zones) {
    entries.push(
      entry('binary_sensor', `zone_${zone.id}_threat`, {
        name: `${zone.name ?? zone.id} threat active`,
        state_topic: s.zoneThreat(zone.id),
        payload_on: 'ON',
        payload_off: 'OFF',
        device_class: 'safety',
      }),
    );
  }
  for (const siren of config.devices.sirens) {
    entries.push(
      entry('siren', `siren_${siren.id}`, {
        name: `Siren ${siren.id}`,
        command_topic: s.sirenCommand(siren.id),
        state_topic: s.sirenState(siren.id),
        payload_on: 'ON',
        payload_off: 'OFF',
        support_duration: true,
        support_volume_set: false,
      }),
    );
  }
  return entries;
}
