// What the gateway knows around a report, kept in memory so that scoring a batch never
// touches the database: a sliding window of recent reports (fed by the pipeline's own
// batches, primed at start by an indexed range query) and per-camera label aggregates
// (primed from the labels table's index, updated by every label written).
import type { GatewayConfig, ThreatLevel } from '../config/schema.js';
import type { Store } from '../store/store.js';
import { corroborationWeight, REPEAT_CAP, type FeatureContext } from './features.js';

export interface Zone {
  id: string;
  cameras: Set<string>;
  risk: number;
}

/** camera id → its zone (the first zone that lists it). */
export function zoneIndex(zones: GatewayConfig['zones']): Map<string, Zone> {
  const index = new Map<string, Zone>();
  for (const z of zones) {
    const zone: Zone = { id: z.id, cameras: new Set(z.cameras), risk: z.risk ?? 0.5 };
    for (const camera of z.cameras) if (!index.has(camera)) index.set(camera, zone);
  }
  return index;
}

/** The last few reports of one camera: enough to count repeats up to the feature's cap. */
interface CameraRecent {
  ids: string[];
  at: number[];
}

const KEEP_PER_CAMERA = REPEAT_CAP;

export interface WindowOptions {
  corroborationWindowMs: number;
  repeatWindowMs: number;
  falseAlarmWindowMs: number;
  defaultZoneRisk: number;
}

/**
 * Recent reports and label aggregates, per camera. O(1) memory per camera (its last
 * REPEAT_CAP reports, and its newest MEDIUM+ report), so a busy site's window costs no more
 * than a quiet one's; a lookup costs O(cameras in the zone).
 */
export class ContextWindow {
  private readonly zones: Map<string, Zone>;
  private readonly cameras = new Map<string, CameraRecent>();
  /** camera → arrival time of its newest MEDIUM-or-above report. */
  private readonly lastAlert = new Map<string, number>();
  /** camera → (incident → latest label and when) within the false-alarm window. */
  private readonly labels = new Map<string, Map<string, { label: 'confirmed' | 'false_alarm'; at: number }>>();
  private readonly horizonMs: number;

  constructor(
    zones: GatewayConfig['zones'],
    private readonly options: WindowOptions,
  ) {
    this.zones = zoneIndex(zones);
    this.horizonMs = Math.max(options.corroborationWindowMs, options.repeatWindowMs);
  }

  /**
   * Fills the window from the store: reports received within the longest window (index
   * incidents_created) and labels within the false-alarm window (index labels_created).
   */
  prime(store: Pick<Store, 'incidents' | 'labels'>, now = Date.now()): { reports: number; labels: number } {
    const rows = store.incidents.recentReports(new Date(now - this.horizonMs).toISOString());
    for (const r of rows) if (r.camera_id) this.add(r.incident_id, r.camera_id, r.reported_level, r.received_at_ms);
    let labels = 0;
    for (const l of store.labels.since(new Date(now - this.options.falseAlarmWindowMs).toISOString())) {
      if (!l.camera_id) continue;
      this.addLabel(l.camera_id, l.incident_id, l.label, Date.parse(l.created_at));
      labels++;
    }
    return { reports: rows.length, labels };
  }

  /** Records a report so later reports see it. A resent incident_id is recorded once. */
  add(incidentId: string, cameraId: string | null, level: ThreatLevel, at: number): void {
    if (!cameraId) return;
    let recent = this.cameras.get(cameraId);
    if (!recent) this.cameras.set(cameraId, (recent = { ids: [], at: [] }));
    if (recent.ids.includes(incidentId)) return;
    recent.ids.push(incidentId);
    recent.at.push(at);
    if (recent.ids.length > KEEP_PER_CAMERA) {
      recent.ids.shift();
      recent.at.shift();
    }
    if (level !== 'LOW') this.lastAlert.set(cameraId, Math.max(at, this.lastAlert.get(cameraId) ?? 0));
  }

  /** Records a label (the latest label of an incident replaces its earlier one). */
  addLabel(cameraId: string, incidentId: string, label: 'confirmed' | 'false_alarm', at: number): void {
    let byIncident = this.labels.get(cameraId);
    if (!byIncident) this.labels.set(cameraId, (byIncident = new Map()));
    byIncident.delete(incidentId);
    byIncident.set(incidentId, { label, at });
  }

  /** Label counts of a camera within the false-alarm window. */
  labelCounts(cameraId: string | null, now: number): { falseAlarms: number; labels: number } {
    const byIncident = cameraId ? this.labels.get(cameraId) : undefined;
    if (!byIncident) return { falseAlarms: 0, labels: 0 };
    const cutoff = now - this.options.falseAlarmWindowMs;
    let falseAlarms = 0;
    let labels = 0;
    for (const [id, l] of byIncident) {
      if (l.at < cutoff) {
        byIncident.delete(id);
        continue;
      }
      labels++;
      if (l.label === 'false_alarm') falseAlarms++;
    }
    return { falseAlarms, labels };
  }

  /** The context of a report arriving now from `cameraId`, from what was seen before it. */
  contextFor(cameraId: string | null, now: number): FeatureContext {
    const zone = cameraId ? this.zones.get(cameraId) : undefined;
    let corroborating = 0;
    let repeats = 0;
    if (cameraId) {
      if (zone) {
        const cutoff = now - this.options.corroborationWindowMs;
        // Each agreeing camera counts by its own label record: a noisy one adds nothing.
        for (const other of zone.cameras) {
          if (other === cameraId || (this.lastAlert.get(other) ?? -Infinity) < cutoff) continue;
          const c = this.labelCounts(other, now);
          corroborating += corroborationWeight(c.falseAlarms, c.labels);
        }
      }
      const recent = this.cameras.get(cameraId);
      if (recent) {
        const cutoff = now - this.options.repeatWindowMs;
        for (const t of recent.at) if (t >= cutoff) repeats++;
      }
    }
    const { falseAlarms, labels } = this.labelCounts(cameraId, now);
    return {
      corroboratingCameras: corroborating,
      cameraRepeats: repeats,
      falseAlarms,
      labels,
      zoneRisk: zone ? zone.risk : this.options.defaultZoneRisk,
    };
  }

  /** Cameras currently tracked (for /model and tests). */
  get cameraCount(): number {
    return this.cameras.size;
  }
}
