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
      .map((s) => ({ id: s.id, duration_s: s.duration_s }));
  }

  recordersFor(cameraId: string | null, zones: string[]): RecorderRef[] {
    return this.devices.recorders
      .filter((r) => this.covers(r, cameraId, zones))
      .map((r) => ({ id: r.id, frigate_url: r.frigate_url || null, label: r.label, duration_s: r.duration_s }));
  }
}
