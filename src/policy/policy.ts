// The action policy: the seed's action handlers, read from config so a site can change them.
// The arming mode (src/arming/) then says which of the planned actions run. The safety floor
// below overrides every mode: a report naming a firearm, at whatever level, runs the full
// CRITICAL response (every CRITICAL action and weapon action), and so does a CRITICAL with any
// weapon. The incident keeps its scored level; its response (and its escalation) is CRITICAL's.
import type { ActionSpec, ArmingMode, GatewayConfig, ThreatLevel } from '../config/schema.js';
import { BUILTIN_VOCABULARY, weaponFacts, type WeaponVocabulary } from '../scoring/vocabulary.js';

/** Why a plan ignored the mode: a report naming a firearm, or a CRITICAL report with a weapon. */
export type FloorRule = 'firearm' | 'critical_weapon';

export interface ActionPlan {
  status: string;
  actions: ActionSpec[];
  /** The arming mode the plan was made in (absent: no mode source, the policy's full plan). */
  mode?: ArmingMode;
  /** Set when the safety floor ran the full CRITICAL response regardless of the mode. */
  floor?: FloorRule;
}

/** What the floor reads of a report or a stored incident. */
export interface WeaponReport {
  weapon_detected: boolean;
  weapon_types: readonly string[];
}

/**
 * The firearm floor's one predicate, shared by scoring, this policy, contacts and the station: a
 * firearm named in the site's vocabulary (`scoring.firearm_terms` added to the built-in one), or
 * `weapon_detected` with no type that is clearly a blade or a blunt object.
 */
export function namesFirearm(report: WeaponReport, vocabulary: WeaponVocabulary): boolean {
  return weaponFacts(report, vocabulary).floorFirearm;
}

/**
 * The level whose response a report gets: CRITICAL when the firearm floor holds, whatever it was
 * scored; otherwise its own. Contacts' escalation follows it too (src/notify/service.ts).
 */
export function responseLevel(level: ThreatLevel, report: WeaponReport, vocabulary: WeaponVocabulary): ThreatLevel {
  return namesFirearm(report, vocabulary) ? 'CRITICAL' : level;
}

/** A stored incident (weapon_detected 0/1, weapon_types as its JSON) or its view. */
export interface IncidentWeapons {
  threat_level: ThreatLevel;
  weapon_detected: boolean | number;
  weapon_types: string | readonly string[];
}

/**
 * The level whose response an incident gets, from what is stored of it: what contacts'
 * escalation follows and what dispatch priority orders by (CRITICAL first, a firearm included).
 */
export function incidentResponseLevel(i: IncidentWeapons, vocabulary: WeaponVocabulary): ThreatLevel {
  const types = typeof i.weapon_types === 'string' ? (JSON.parse(i.weapon_types) as string[]) : i.weapon_types;
  return responseLevel(i.threat_level, { weapon_detected: i.weapon_detected === true || i.weapon_detected === 1, weapon_types: types }, vocabulary);
}

/** The current arming mode (src/arming/ArmingService). */
export interface ModeSource {
  readonly mode: ArmingMode;
}

export class ActionPolicy {
  private modeSource: ModeSource | null = null;

  constructor(
    private readonly policy: GatewayConfig['policy'],
    private readonly modes: GatewayConfig['arming']['modes'] | null = null,
    private readonly vocabulary: WeaponVocabulary = BUILTIN_VOCABULARY,
  ) {}

  /** The arming module hands its mode here when it is built (before any report can arrive). */
  useModes(source: ModeSource): void {
    this.modeSource = source;
  }

  plan(level: ThreatLevel, weaponDetected: boolean, weaponTypes: readonly string[] = []): ActionPlan {
    const weapon = weaponDetected || weaponTypes.length > 0;
    const floor: FloorRule | null = namesFirearm({ weapon_detected: weaponDetected, weapon_types: weaponTypes }, this.vocabulary) ? 'firearm' : level === 'CRITICAL' && weapon ? 'critical_weapon' : null;
    if (floor) {
      // The safety floor: the full CRITICAL response, whatever the level and the mode.
      const rule = this.policy.CRITICAL;
      const mode = this.modeSource?.mode;
      return { status: rule.status, actions: [...rule.actions, ...rule.weapon_actions], floor, ...(mode && this.modes ? { mode } : {}) };
    }
    const rule = this.policy[level];
    const actions = weaponDetected ? [...rule.actions, ...rule.weapon_actions] : rule.actions;
    const mode = this.modeSource?.mode;
    if (!mode || !this.modes) return { status: rule.status, actions };
    const keep = this.modes[mode][level];
    if (keep.includes('*')) return { status: rule.status, actions, mode };
    return { status: rule.status, actions: actions.filter((a) => keep.includes(a.type)), mode };
  }

  /** The level whose response an incident gets (incidentResponseLevel with this site's vocabulary). */
  responseOf(incident: IncidentWeapons): ThreatLevel {
    return incidentResponseLevel(incident, this.vocabulary);
  }

  /** Every action type the policy can plan, for checking that something handles each. */
  actionTypes(): string[] {
    const types = new Set<string>();
    for (const rule of Object.values(this.policy)) {
      for (const a of [...rule.actions, ...rule.weapon_actions]) types.add(a.type);
    }
    return [...types];
  }
}
