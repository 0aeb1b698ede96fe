// The action policy: the seed's action handlers, read from config so a site can change them.
// The arming mode (src/arming/) then says which of the planned actions run. The safety floor
// below overrides every mode: a report naming a firearm, at whatever level, runs the full
// CRITICAL response (every CRITICAL action and weapon action), and so does a CRITICAL with any
// weapon. The incident keeps its scored level; its response (and its escalation) is CRITICAL's.
import type { ActionSpec, ArmingMode, GatewayConfig, ThreatLevel } from '../config/schema.js';
import { weaponFamily } from '../scoring/features.js';

/** Why a plan ignored the mode: a report naming a firearm, or a CRITICAL report with a weapon. */
export type FloorRule = 'firearm' | 'critical_weapon';

export interface ActionPlan {
  status: string;
  actions: ActionSpec[];
  /** The arming mode the plan was made in (absent: no mode source, the policy's full plan). */
  mode?: ArmingMode;
  /** Set when the safety floor ran the full CRITICAL response regardless of the mode. */
  floor?: FloorRule;
  /** The level whose response runs: the incident's level, or CRITICAL under the firearm floor. */
  response: ThreatLevel;
}

/** Whether a report names a firearm (the one predicate of the firearm floor, shared with scoring). */
export function namesFirearm(weaponTypes: readonly string[]): boolean {
  return weaponTypes.some((t) => weaponFamily(t) === 'firearm');
}

/**
 * The level whose response a report gets: CRITICAL when it names a firearm, whatever it was
 * scored; otherwise its own. Contacts' escalation follows it too (src/notify/service.ts).
 */
export function responseLevel(level: ThreatLevel, weaponTypes: readonly string[]): ThreatLevel {
  return namesFirearm(weaponTypes) ? 'CRITICAL' : level;
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
  ) {}

  /** The arming module hands its mode here when it is built (before any report can arrive). */
  useModes(source: ModeSource): void {
    this.modeSource = source;
  }

  plan(level: ThreatLevel, weaponDetected: boolean, weaponTypes: readonly string[] = []): ActionPlan {
    const weapon = weaponDetected || weaponTypes.length > 0;
    const floor: FloorRule | null = namesFirearm(weaponTypes) ? 'firearm' : level === 'CRITICAL' && weapon ? 'critical_weapon' : null;
    if (floor) {
      // The safety floor: the full CRITICAL response, whatever the level and the mode.
      const rule = this.policy.CRITICAL;
      const mode = this.modeSource?.mode;
      return { status: rule.status, actions: [...rule.actions, ...rule.weapon_actions], response: 'CRITICAL', floor, ...(mode && this.modes ? { mode } : {}) };
    }
    const rule = this.policy[level];
    const actions = weaponDetected ? [...rule.actions, ...rule.weapon_actions] : rule.actions;
    const mode = this.modeSource?.mode;
    if (!mode || !this.modes) return { status: rule.status, actions, response: level };
    const keep = this.modes[mode][level];
    if (keep.includes('*')) return { status: rule.status, actions, response: level, mode };
    return { status: rule.status, actions: actions.filter((a) => keep.includes(a.type)), response: level, mode };
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
