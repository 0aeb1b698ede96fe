// Each component reports its own state; /health shows them all and answers 503
// when any is down.
export type ComponentState = 'up' | 'degraded' | 'down';

export interface ComponentHealth {
  status: ComponentState;
  [detail: string]: unknown;
}

export type HealthCheck = () => ComponentHealth;

export class HealthRegistry {
  private readonly checks = new Map<string, HealthCheck>();

  register(name: string, check: HealthCheck): void {
    this.checks.set(name, check);
  }

  snapshot(): { status: 'healthy' | 'degraded' | 'unhealthy'; components: Record<string, ComponentHealth> } {
    const components: Record<string, ComponentHealth> = {};
    for (const [name, check] of this.checks) {
      try {
        components[name] = check();
      } catch (err) {
        components[name] = { status: 'down', error: (err as Error).message };
      }
    }
    const states = Object.values(components).map((c) => c.status);
    const status = states.includes('down') ? 'unhealthy' : states.includes('degraded') ? 'degraded' : 'healthy';
    return { status, components };
  }
}
