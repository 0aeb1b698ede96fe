// Checks of the contacts and escalation blocks that a JSON schema cannot express: every contact
// id an escalation step names must exist, ids must be unique, steps must be in time order.
// Each problem names its key, as the schema's own errors do (exit 78 lists them all).
import type { GatewayConfig } from './schema.js';
import { LEVELS } from './schema.js';

export function contactProblems(config: GatewayConfig): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  config.contacts.forEach((c, i) => {
    if (ids.has(c.id)) problems.push(`contacts.${i}.id: "${c.id}" is used by an earlier contact`);
    ids.add(c.id);
  });
  const known = [...ids].join(', ') || 'none';
  for (const level of LEVELS) {
    const steps = config.escalation[level];
    steps.forEach((step, i) => {
      step.notify.forEach((id, j) => {
        if (!ids.has(id)) problems.push(`escalation.${level}.${i}.notify.${j}: unknown contact "${id}" (contacts: ${known})`);
      });
      if (i > 0 && step.at_s < steps[i - 1]!.at_s) problems.push(`escalation.${level}.${i}.at_s: ${step.at_s} is before the step above it (${steps[i - 1]!.at_s}); list steps in time order`);
    });
  }
  for (const type of config.notify.action_types) {
    if (config.automation.siren_action_types.includes(type)) problems.push(`notify.action_types: "${type}" is also in automation.siren_action_types`);
  }
  return problems;
}
