import type { ThreatLevel } from '../../config/schema.js';

/** Every MQTT topic the gateway reads or writes. */
export const TOPICS = {
  cameraThreats: (cameraId: string) => `safesphere/cameras/${cameraId}/threats`,
  cameraSnapshots: (cameraId: string, incidentId: string) => `safesphere/cameras/${cameraId}/snapshots/${incidentId}`,
  incidents: (level: ThreatLevel) => `safesphere/incidents/${level}`,
  rejects: (cameraId: string) => `safesphere/gateway/rejects/${cameraId}`,
  status: 'safesphere/gateway/status',
  /** The current safe route from a zone, retained (src/navigation/). */
  routes: (zone: string) => `safesphere/routes/${zone}`,
} as const;

/** The camera id of a `safesphere/cameras/<camera_id>/threats` topic, else null. */
export function parseCameraTopic(topic: string): string | null {
  const parts = topic.split('/');
  if (parts.length !== 4 || parts[0] !== 'safesphere' || parts[1] !== 'cameras' || parts[3] !== 'threats') return null;
  return parts[2] ?? null;
}

/** Camera and incident ids of a `safesphere/cameras/<camera_id>/snapshots/<incident_id>` topic, else null. */
export function parseSnapshotTopic(topic: string): { cameraId: string; incidentId: string } | null {
  const parts = topic.split('/');
  if (parts.length !== 5 || parts[0] !== 'safesphere' || parts[1] !== 'cameras' || parts[3] !== 'snapshots') return null;
  return { cameraId: parts[2] ?? '', incidentId: parts[4] ?? '' };
}
