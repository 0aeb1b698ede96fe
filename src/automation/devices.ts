// Which sirens and recorders answer for a camera, from the device map in config.
import type { GatewayConfig } from '../config/schema.js';
import type { RecorderRef, SirenRef } from './types.js';

export interface Zone {
  id: string;
  cameras: string[];
}

interface Covering {
  cameras: string[];
  zones: string[];
}

export class DeviceMap {
  constructor(
    private readonly devices: GatewayConfig['devices'],
    private readonly zones: readonly Zone[],
  ) {}

  /** Zones whose camera list includes this camera. */
  zonesOf(cameraId: string | null): string[] {
    if (cameraId === null) return [];
    return this.zones.filter((z) => z.cameras.includes(cameraId)).map((z) => z.id);
  }

  private covers(device: Covering, cameraId: string | null, zones: string[]): boolean {
    if (device.cameras.includes('*')) return true;
    if (cameraId !== null && device.cameras.includes(cameraId)) return true;
    return device.zones.some((z) => zones.includes(z));
  }

  sirensFor(cameraId: string | null, zones: string[]): SirenRef[] {
    return this.devices.sirens
      .filter((s) => this.covers(s, cameraId, zones))
      .map((s) => ({ id: s.id, duration_s: s.duration_s, feedback: feedbackTopic(s) }));
  }

  recordersFor(cameraId: string | null, zones: string[]): RecorderRef[] {
    return this.devices.recorders
      .filter((r) => this.covers(r, cameraId, zones))
      .map((r) => ({ id: r.id, frigate_url: r.frigate_url || null, label: r.label, duration_s: r.duration_s }));
  }
}

type SirenConfig = GatewayConfig['devices']['sirens'][number];

/** The topic a siren echoes its state on (devices.sirens[].feedback), or null without feedback. */
export function feedbackTopic(s: SirenConfig): string | null {
  const device = s.device || s.id;
  switch (s.feedback) {
    case 'safesphere':
      return `safesphere/sirens/${s.id}/state`;
    case 'tasmota':
      return `stat/${device}/POWER`;
    case 'shelly':
      return `${device}/status/switch:0`;
    case 'shelly_gen1':
      return `shellies/${device}/relay/0`;
    case 'zigbee2mqtt':
      return `zigbee2mqtt/${device}`;
    default:
      return null;
  }
}

/** Whether a state payload says ON, in the siren's own dialect. */
function saysOn(kind: SirenConfig['feedback'], payload: Buffer): boolean {
  const text = payload.toString('utf8').trim();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  const field = (key: string): unknown => (json && typeof json === 'object' ? (json as Record<string, unknown>)[key] : undefined);
  switch (kind) {
    case 'safesphere':
      return text.toUpperCase() === 'ON' || String(field('state')).toUpperCase() === 'ON';
    case 'tasmota':
      return text.toUpperCase() === 'ON';
    case 'shelly':
      return field('output') === true;
    case 'shelly_gen1':
      return text.toLowerCase() === 'on';
    case 'zigbee2mqtt':
      return String(field('state')).toUpperCase() === 'ON';
    default:
      return false;
  }
}

/** Maps a publish on the broker to the siren that echoed ON, if any. */
export class SirenFeedback {
  private readonly byTopic = new Map<string, SirenConfig[]>();

  constructor(sirens: readonly SirenConfig[]) {
    for (const s of sirens) {
      const topic = feedbackTopic(s);
      if (topic) this.byTopic.set(topic, [...(this.byTopic.get(topic) ?? []), s]);
    }
  }

  get configured(): boolean {
    return this.byTopic.size > 0;
  }

  /** The sirens this publish shows sounding. */
  echoed(topic: string, payload: Buffer): string[] {
    return (this.byTopic.get(topic) ?? []).filter((s) => saysOn(s.feedback, payload)).map((s) => s.id);
  }
}
