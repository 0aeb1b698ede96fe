// The one incident detail view: what GET /incidents/{id} and GET /api/incidents/{id} answer. Each
// field names the feature it comes from; a feature that is off gives its empty value, so the
// shape of the body never depends on the config.
import type { StoredIncident } from '../store/types.js';

export interface IncidentDetailSources {
  actions(incidentId: string): unknown[];
  alerts(incidentId: string): unknown[];
  labels(incidentId: string): unknown[];
  annotations(incidentId: string): unknown[];
  /** Site operations: the camera's zone and an operator's acknowledge/resolve. */
  zoneOf(cameraId: string | null): string | null;
  operatorStatus(incidentId: string): unknown;
  /** Evidence: the snapshot and the image model's detections (null without them). */
  snapshot(incidentId: string): unknown;
  detections(incidentId: string): unknown;
  /** The other incidents with the same source id (a Frigate review's incident and its follow-ups). */
  related(incident: StoredIncident): unknown[];
  /** Contacts and escalation: the escalation's state and next step (null without one), and every delivery with its receipt. */
  escalation(incidentId: string): unknown;
  deliveries(incidentId: string): unknown[];
}

export class IncidentDetails {
  constructor(private readonly sources: IncidentDetailSources) {}

  build(incident: StoredIncident): Record<string, unknown> {
    const id = incident.incident_id;
    const s = this.sources;
    return {
      ...incident,
      zone: s.zoneOf(incident.camera_id),
      actions: s.actions(id),
      alerts: s.alerts(id),
      labels: s.labels(id),
      operator_status: s.operatorStatus(id),
      snapshot: s.snapshot(id),
      detections: s.detections(id),
      annotations: s.annotations(id),
      related: s.related(incident),
      escalation: s.escalation(id),
      deliveries: s.deliveries(id),
    };
  }
}
