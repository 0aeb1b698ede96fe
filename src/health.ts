// Each module reports its own state (Module.health); /health shows them all and answers 503
// when any is down.
export type ComponentState = 'up' | 'degraded' | 'down';

export interface ComponentHealth {
  status: ComponentState;
  [detail: string]: unknown;
}

/** A module's health entries, keyed as /health shows them. */
export type HealthSource = () => Record<string, ComponentHealth>;

export class HealthRegistry {
  private readonly sources: { owner: string; read: HealthSource }[] = [];

  /** `owner` names the entry shown when the source itself throws. */
  add(owner: string, read: HealthSource): void {
    this.sources.push({ owner, read });
  }

  snapshot(): { status: 'healthy' | 'degraded' | 'unhealthy'; components: Record<string, ComponentHealth> } {
    const components: Record<string, ComponentHealth> = {};
    for (const { owner, read } of this.sources) {
      try {
        Object.assign(components, read());
      } catch (err) {
        components[owner] = { status: 'down', error: (err as Error).message };
      }
    }
    const states = Object.values(components).map((c) => c.status);
    const status = states.includes('down') ? 'unhealthy' : states.includes('degraded') ? 'degraded' : 'healthy';
    return { status, components };
  }
}
