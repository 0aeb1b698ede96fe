// The one place the gateway talks to Gemini, through @google/genai. No SDK-level retries
// (no httpOptions.retryOptions): the caller owns backoff, budget and the offline queue.
// Errors are classified so the caller knows whether to wait, go offline or give up.
import { readFileSync } from 'node:fs';
// Types only: the SDK (~20 MB resident) is loaded on the first request, so a gateway with AI
// off never loads it.
import type { GoogleGenAI, Part } from '@google/genai';
import { LEVELS, type GatewayConfig, type ThreatLevel } from '../config/schema.js';

export type FailureKind = 'rate_limited' | 'server' | 'timeout' | 'network' | 'rejected' | 'invalid_response';

export class GeminiFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly status: number | null = null,
  ) {
    super(message);
    this.name = 'GeminiFailure';
  }

  /** Worth another attempt after a wait. */
  get transient(): boolean {
    return this.kind !== 'rejected' && this.kind !== 'invalid_response';
  }
}

export interface SecondOpinionAnswer {
  summary: string;
  threat_confirmed: boolean;
  confidence: number;
  potential_threat_level: ThreatLevel;
  recommended_actions: string[];
}

export const SECOND_OPINION_SCHEMA = {
  type: 'OBJECT',
  properties: {
    summary: { type: 'STRING', description: 'What the image and telemetry show, in one or two sentences.' },
    threat_confirmed: { type: 'BOOLEAN', description: 'True if the evidence supports a real threat.' },
    confidence: { type: 'NUMBER', description: 'Confidence in threat_confirmed, 0 to 1.' },
    potential_threat_level: { type: 'STRING', enum: [...LEVELS], description: 'The level the evidence supports.' },
    recommended_actions: { type: 'ARRAY', items: { type: 'STRING' }, description: 'Short, concrete steps for the operator.' },
  },
  required: ['summary', 'threat_confirmed', 'confidence', 'potential_threat_level', 'recommended_actions'],
  propertyOrdering: ['summary', 'threat_confirmed', 'confidence', 'potential_threat_level', 'recommended_actions'],
};

/** The API key: config, then api_key_file, then GEMINI_API_KEY / GOOGLE_API_KEY. Null when none. */
export function resolveApiKey(ai: GatewayConfig['ai'], env: NodeJS.ProcessEnv = process.env): { key: string; from: string } | null {
  if (ai.api_key.trim()) return { key: ai.api_key.trim(), from: 'ai.api_key' };
  if (ai.api_key_file) {
    const key = readFileSync(ai.api_key_file, 'utf8').trim();
    if (key) return { key, from: 'ai.api_key_file' };
  }
  for (const name of ['GEMINI_API_KEY', 'GOOGLE_API_KEY']) {
    const key = env[name]?.trim();
    if (key) return { key, from: name };
  }
  return null;
}

function classify(err: unknown, timeoutMs: number): GeminiFailure {
  if (err instanceof GeminiFailure) return err;
  // The SDK's ApiError, recognised without importing the SDK.
  const apiError = err as { name?: string; status?: unknown; message?: string };
  if (apiError?.name === 'ApiError' && typeof apiError.status === 'number') {
    const status = apiError.status;
    const message = apiError.message ?? `HTTP ${status}`;
    if (status === 429) return new GeminiFailure('rate_limited', message, status);
    if (status >= 500 || status === 408) return new GeminiFailure('server', message, status);
    return new GeminiFailure('rejected', message, status);
  }
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError' || /abort|timed? ?out/i.test(e?.message ?? '')) {
    return new GeminiFailure('timeout', `no answer within ${timeoutMs} ms`);
  }
  const detail = e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
  return new GeminiFailure('network', `cannot reach Gemini: ${detail}`);
}

export class GeminiClient {
  private client: Promise<GoogleGenAI> | null = null;

  constructor(
    private readonly apiKey: string,
    readonly model: string,
    private readonly timeoutMs: number,
    private readonly baseUrl = '',
  ) {}

  private sdk(): Promise<GoogleGenAI> {
    this.client ??= import('@google/genai').then(
      ({ GoogleGenAI: Client }) =>
        new Client({ apiKey: this.apiKey, httpOptions: { ...(this.baseUrl ? { baseUrl: this.baseUrl } : {}), timeout: this.timeoutMs } }),
    );
    return this.client;
  }

  /** One generateContent call bounded by the timeout (the SDK's, and our own abort as a backstop). */
  private async generate(
    parts: Part[],
    config: Record<string, unknown>,
  ): Promise<string> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new Error(`timed out after ${this.timeoutMs} ms`)), this.timeoutMs + 250);
    try {
      const client = await this.sdk();
      const response = await client.models.generateContent({
        model: this.model,
        contents: [{ role: 'user', parts }],
        config: { ...config, abortSignal: abort.signal },
      });
      const text = response.text;
      if (!text) throw new GeminiFailure('invalid_response', 'the answer has no text');
      return text;
    } catch (err) {
      throw classify(err, this.timeoutMs);
    } finally {
      clearTimeout(timer);
    }
  }

  async secondOpinion(prompt: string, jpeg: Buffer | null): Promise<SecondOpinionAnswer> {
    const parts: Part[] = [{ text: prompt }];
    if (jpeg) parts.push({ inlineData: { mimeType: 'image/jpeg', data: jpeg.toString('base64') } });
    const text = await this.generate(parts, {
      temperature: 0.1,
      responseMimeType: 'application/json',
      responseSchema: SECOND_OPINION_SCHEMA,
      systemInstruction:
        'You give a second opinion on a security camera alert for a human operator. Judge only from the evidence given. ' +
        'Be brief and concrete. Never invent details that are not visible or stated.',
    });
    return parseSecondOpinion(text);
  }

  async chat(systemInstruction: string, question: string): Promise<string> {
    return this.generate([{ text: question }], { temperature: 0.2, systemInstruction });
  }
}

/** Validates the model's JSON against the schema; anything else is an invalid_response. */
export function parseSecondOpinion(text: string): SecondOpinionAnswer {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new GeminiFailure('invalid_response', 'the answer is not JSON');
  }
  const bad = (field: string) => new GeminiFailure('invalid_response', `the answer's ${field} is missing or of the wrong type`);
  if (typeof v !== 'object' || v === null) throw bad('(root)');
  if (typeof v.summary !== 'string') throw bad('summary');
  if (typeof v.threat_confirmed !== 'boolean') throw bad('threat_confirmed');
  if (typeof v.confidence !== 'number' || !Number.isFinite(v.confidence)) throw bad('confidence');
  const level = typeof v.potential_threat_level === 'string' ? v.potential_threat_level.toUpperCase() : '';
  if (!(LEVELS as readonly string[]).includes(level)) throw bad('potential_threat_level');
  if (!Array.isArray(v.recommended_actions) || !v.recommended_actions.every((a) => typeof a === 'string')) throw bad('recommended_actions');
  return {
    summary: v.summary.slice(0, 2000),
    threat_confirmed: v.threat_confirmed,
    confidence: Math.min(1, Math.max(0, v.confidence)),
    potential_threat_level: level as ThreatLevel,
    recommended_actions: (v.recommended_actions as string[]).slice(0, 16).map((a) => a.slice(0, 300)),
  };
}
