// The report path's core: validate → re-score → one commit → ack. Transports (MQTT, HTTP, and
// later sources) hand validated reports to the pipeline it provides; nothing bypasses it.
import type { Module, ModuleContext } from '../module.js';
import { ActionPolicy } from '../policy/policy.js';
import { WeaponVocabulary } from '../scoring/vocabulary.js';
import { ReportValidator } from '../validate/report.js';
import { IngestPipeline, type IngestObserver } from './ingest.js';
import { reportRoutes } from './routes.js';

declare module '../module.js' {
  interface Exports {
    pipeline: IngestPipeline;
    /** The one validator every transport uses. */
    validator: ReportValidator;
    /** Level (and weapon) → the actions to plan; the arming module gives it the mode. */
    policy: ActionPolicy;
  }
}

export const pipelineModule =
  (observer?: IngestObserver) =>
  (ctx: ModuleContext): Module => {
    const { config } = ctx;
    const validator = new ReportValidator(config.report);
    const policy = new ActionPolicy(config.policy, config.arming.modes, new WeaponVocabulary(config.scoring.firearm_terms));
    const metrics = ctx.find('metrics');
    const scorer = ctx.use('scorer');
    const pipeline = new IngestPipeline(
      config.ingest,
      ctx.store,
      metrics ? metrics.measureScorer(scorer) : scorer,
      policy,
      ctx.bus,
      ctx.logger('pipeline'),
      metrics ? metrics.ingestObserver(observer) : observer,
    );
    ctx.provide('pipeline', pipeline);
    ctx.provide('validator', validator);
    ctx.provide('policy', policy);
    return {
      name: 'pipeline',
      start: () => pipeline.start(),
      stop: () => pipeline.stop(),
      health: () => ({
        pipeline: { status: pipeline.pending > config.ingest.max_pending * 0.8 ? 'degraded' : 'up', pending: pipeline.pending },
      }),
      routes: (app) => app.register(reportRoutes({ report: config.report, validator, pipeline, access: ctx.access })),
      banner: (at) => [`Reports         : POST ${at.http}/threats/report   (MQTT: see the broker below)`],
    };
  };
