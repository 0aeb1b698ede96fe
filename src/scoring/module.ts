// The re-score stage: the ONNX model that sees other cameras, history and operator labels.
// Primes its context from the store and loads the model before reports flow. A scorer given
// to the Gateway (GatewayOptions.scorer: benches and tests) takes its place.
import type { ComponentHealth } from '../health.js';
import type { Module, ModuleContext } from '../module.js';
import { RescoreStage } from './rescorer.js';
import { modelRoutes } from './routes.js';
import type { Scorer } from './scorer.js';

declare module '../module.js' {
  interface Exports {
    /** What the pipeline scores each batch with. */
    scorer: Scorer;
    /** The ONNX re-score stage; null when another scorer was given. */
    rescorer: RescoreStage | null;
  }
}

export const scoringModule =
  (injected?: Scorer) =>
  (ctx: ModuleContext): Module => {
    const rescorer = injected ? null : new RescoreStage(ctx.config, ctx.store, ctx.store.labels, ctx.logger('scoring'));
    ctx.provide('rescorer', rescorer);
    ctx.provide('scorer', injected ?? rescorer!);
    return {
      name: 'scoring',
      start: async () => rescorer?.start(),
      stop: async () => rescorer?.stop(),
      health: (): Record<string, ComponentHealth> => (rescorer ? { model: rescorer.health() } : {}),
      routes: (app) => app.register(modelRoutes(rescorer)),
      banner: (at) => {
        const model = rescorer?.activeManifest;
        return [`Re-scoring      : GET ${at.http}/model   (${model ? `model ${model.version}` : 'no model: the cameras\' levels are kept'})`];
      },
    };
  };
