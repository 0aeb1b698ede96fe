// The optional Gemini second opinion on snapshots, and the operator chat on /ws/chat. The API
// key is read at start (a file or the environment), so whether the opinion runs is known then.
import type { ComponentHealth } from '../health.js';
import type { Module, ModuleContext } from '../module.js';
import { OperatorChat } from './chat.js';
import { GeminiClient, resolveApiKey } from './gemini.js';
import { SecondOpinion } from './opinion.js';
import { chatRoutes } from './routes.js';

/** What the AI module runs; filled in at start. */
export interface AiFeature {
  /** Null when AI is off, has no API key, or snapshots are disabled. */
  opinion: SecondOpinion | null;
  chat: OperatorChat | null;
}

declare module '../module.js' {
  interface Exports {
    ai: AiFeature;
  }
}

export function create(ctx: ModuleContext): Module {
  const { config, store } = ctx;
  const snapshots = ctx.find('snapshots') ?? null;
  const dispatching = ctx.find('automation') !== undefined;
  const log = ctx.logger('ai');
  const ai: AiFeature = { opinion: null, chat: null };
  ctx.provide('ai', ai);
  return {
    name: 'ai',
    async start() {
      const apiKey = config.ai.enabled ? resolveApiKey(config.ai) : null;
      const gemini = apiKey ? new GeminiClient(apiKey.key, config.ai.model, config.ai.timeout_ms, config.ai.base_url) : null;
      const opinion = gemini && snapshots ? new SecondOpinion(config.ai, store, ctx.bus, snapshots, gemini, dispatching, log) : null;
      const off = !config.ai.enabled
        ? 'ai.enabled is false'
        : !apiKey
          ? 'no API key: set ai.api_key, ai.api_key_file or GEMINI_API_KEY'
          : 'snapshots are disabled';
      await opinion?.start();
      ai.opinion = opinion;
      ai.chat = new OperatorChat(store, snapshots, opinion ? gemini : null, opinion, off, ctx.logger('chat'));
    },
    async stop() {
      await ai.opinion?.stop();
      ai.opinion = null;
    },
    health: (): Record<string, ComponentHealth> => (ai.opinion ? { ai: ai.opinion.health() } : {}),
    routes: (app) => {
      const chat = ai.chat;
      if (chat) return app.register(chatRoutes(chat));
    },
    banner: (at) => [`AI              : ${ai.opinion ? 'second opinion on' : 'second opinion off'}   WS ${at.http.replace(/^http/, 'ws')}/ws/chat`],
  };
}
