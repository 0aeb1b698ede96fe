// The action policy: the seed's action handlers, read from config so a site can change them.
// The arming mode (src/arming/) then says which of the planned actions run; the safety floor
// below overrides every mode (a report naming a firearm and a CRITICAL with a weapon keep
// their level's full plan; with scoring.floor.firearm_min_high a firearm is at least HIGH).
import type { ActionSpec, ArmingMode, GatewayConfig, ThreatLevel } from '../config/schema.js';
import { weaponFamily } from '../scoring/features.js';

/** Why a plan ignored the mode: a report naming a firearm, or a CRITICAL report with a weapon. */
export type FloorRule = 'firearm' | 'critical_weapon';

export interface ActionPlan {
  status: string;
  actions: ActionSpec[];
  /** The arming mode the plan was made in (absent: no mode source, the policy's full plan). */
  mode?: ArmingMode;
  /** Set when the safety floor kept the level's full plan regardless of the mode. */
  floor?: FloorRule;
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
    const rule = this.policy[level];
    const weapon = weaponDetected || weaponTypes.length > 0;
    // The safety floor: a report naming a firearm, and a CRITICAL with any weapon, run their
    // full plan (a CRITICAL: every CRITICAL action and weapon action) whatever the mode.
    const floor: FloorRule | null = weaponTypes.some((t) => weaponFamily(t) === 'firearm') ? 'firearm' : level === 'CRITICAL' && weapon ? 'critical_weapon' : null;
    const actions = weaponDetected ? [...rule.actions, ...rule.weapon_actions] : rule.actions;
    const mode = this.modeSource?.mode;
    if (!mode || !this.modes) return { status: rule.status, actions, ...(floor ? { floor } : {}) };
    if (floor) return { status: rule.status, actions, mode, floor };
    const keep = this.modes[mode][level];
    if (keep.includes('*')) return { status: rule.status, actions, mode };
    return { status: rule.status, actions: actions.filter((a) => keep.includes(a.type)), mode };
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
