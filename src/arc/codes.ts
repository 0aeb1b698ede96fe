// Incidents as alarm events. The event class comes from the level (an incident naming a firearm
// is a hold-up at any level: the safety floor gives it the CRITICAL response, src/policy/policy.ts), its codes from config (SIA two-letter codes, Contact ID event codes,
// defaults from their code tables); the zone from the camera-to-zone map. A restore is the
// same class with SIA's restore code (second letter R: HA -> HR) or Contact ID qualifier 3.
import type { GatewayConfig, ThreatLevel } from '../config/schema.js';
import { clean } from './frame.js';

type ArcConfig = GatewayConfig['arc'];
export type EventClass = 'holdup' | ThreatLevel;

export interface AlarmEvent {
  cls: EventClass | 'test' | 'custom';
  /** SIA two-letter code and Contact ID event code. */
  sia: string;
  cid: number;
  restore: boolean;
  zone: number;
  partition: number;
  /** Extended data blocks (without brackets), already cleaned. */
  extended: string[];
}

/** SIA's restore code for an alarm code: the second letter becomes R (BA -> BR, PA -> PR, HA -> HR). */
export const siaRestore = (code: string): string => `${code[0]}R`;

/** SIA RP (automatic test) / Contact ID 602 (periodic test report). */
export const TEST_REPORT = { sia: 'RP', cid: 602 } as const;

export function eventClass(level: ThreatLevel, firearm: boolean): EventClass {
  // `firearm` is the floor's own predicate (notify computes it with the site's vocabulary): one
  // idea of what counts as a firearm, not two.
  return firearm ? 'holdup' : level;
}

export const zoneOf = (arc: ArcConfig, camera: string | null): number => (camera !== null ? arc.zones[camera] : undefined) ?? arc.default_zone;

/** The event an incident (or its restore) is at the ARC. */
export function incidentEvent(
  arc: ArcConfig,
  site: string,
  m: { incident_id: string; level: ThreatLevel; firearm: boolean; camera_id: string | null; text: string },
  restore: boolean,
): AlarmEvent {
  const cls = eventClass(m.level, m.firearm);
  const code = arc.codes[cls];
  return {
    cls,
    sia: restore ? siaRestore(code.sia) : code.sia,
    cid: code.cid,
    restore,
    zone: zoneOf(arc, m.camera_id),
    partition: arc.partition,
    // One alarm-text block: receivers that parse a single extended block (iobroker.sia) still see the timestamp after it.
    extended: arc.extended_data ? [`I${clean(`site ${site} incident ${m.incident_id}${restore ? ' restored' : ''}: ${m.text}`, 160)}`] : [],
  };
}

/** The data block: SIA-DCS `#acct|Nri<area>/<code><zone>`, ADM-CID `#acct|<Q><EEE> <GG> <ZZZ>`. */
export function dataBlock(format: 'SIA-DCS' | 'ADM-CID', account: string, e: Pick<AlarmEvent, 'sia' | 'cid' | 'restore' | 'zone' | 'partition'>): string {
  if (format === 'SIA-DCS') return `#${account}|Nri${e.partition}/${e.sia}${String(e.zone).padStart(3, '0')}`;
  const q = e.restore ? '3' : '1';
  return `#${account}|${q}${String(e.cid).padStart(3, '0')} ${String(e.partition).padStart(2, '0')} ${String(e.zone).padStart(3, '0')}`;
}
