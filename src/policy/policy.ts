// The action policy: the seed's action handlers, read from config so a site can change them.
// The arming mode (src/arming/) then says which of the planned actions run; the safety floor
// below overrides every mode.
import type { ActionSpec, ArmingMode, GatewayConfig, ThreatLevel } from '../config/schema.js';
import { weaponFamily } from '../scoring/features.js';

/** Why a plan ignored the mode: a report naming a firearm, or a CRITICAL report with a weapon. */
export type FloorRule = 'firearm' | 'critical_weapon';

export interface ActionPlan {
  status: string;
  actions: ActionSpec[];
  /** The arming mode the plan was made in (absent: no mode source, the policy's full plan). */
  mode?: ArmingMode;
  /** Set when the safety floor gave the full CRITICAL plan regardless of the mode. */
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
    const firearm = weaponTypes.some((t) => weaponFamily(t) === 'firearm');
    const floor: FloorRule | null = firearm ? 'firearm' : level === 'CRITICAL' && (weaponDetected || weaponTypes.length > 0) ? 'critical_weapon' : null;
    if (floor) {
      // The safety floor: no mode can silence it, and it is the full CRITICAL response.
      const critical = this.policy.CRITICAL;
      const plan: ActionPlan = { status: critical.status, actions: [...critical.actions, ...critical.weapon_actions], floor };
      if (this.modeSource) plan.mode = this.modeSource.mode;
      return plan;
    }
    const rule = this.policy[level];
    const actions = weaponDetected ? [...rule.actions, ...rule.weapon_actions] : rule.actions;
    if (!this.modeSource || !this.modes) return { status: rule.status, actions };
    const mode = this.modeSource.mode;
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
