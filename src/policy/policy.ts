// The action policy: the seed's action handlers, read from config so a site can change them.
import type { ActionSpec, GatewayConfig, ThreatLevel } from '../config/schema.js';

export interface ActionPlan {
  status: string;
  actions: ActionSpec[];
}

export class ActionPolicy {
  constructor(private readonly policy: GatewayConfig['policy']) {}

  plan(level: ThreatLevel, weaponDetected: boolean): ActionPlan {
    const rule = this.policy[level];
    return {
      status: rule.status,
      actions: weaponDetected ? [...rule.actions, ...rule.weapon_actions] : rule.actions,
    };
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
