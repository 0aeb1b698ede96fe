// Operator chat (the CitiSafe chat, over WebSocket /ws/chat): a plain-language question
// ("what happened at cam-3 in the last hour?") is answered from the gateway's OWN store.
// Retrieval is local and deterministic (camera, time window, level, incident ids named in
// the question → indexed store queries); Gemini only phrases the answer, and is told to use
// nothing but the retrieved incidents and to cite their ids. Cited ids are checked against
// what was retrieved: an id the model made up is never passed on as a citation.
import { LEVELS, type ThreatLevel } from '../config/schema.js';
import type { Logger } from '../logger.js';
import type { SnapshotService } from '../evidence/snapshots.js';
import type { Store } from '../store/store.js';
import type { IncidentSummary } from '../store/types.js';
import { GeminiFailure, type GeminiClient } from './gemini.js';
import type { SecondOpinion } from './opinion.js';

export const MAX_QUESTION_CHARS = 2000;
const MAX_CONTEXT_INCIDENTS = 40;
const ID_TOKEN = /^[A-Za-z0-9_.:-]{1,128}$/;
/** Ids the model cites, in square brackets as it is told to: [INC_1] or [INC_1, INC_2]. */
const BRACKETED = /\[([A-Za-z0-9_.:\-, ]{1,600})\]/g;

/** Incident ids cited in an answer: bracketed ones, plus any retrieved id written out plainly. */
export function citedIds(text: string, retrieved: readonly string[]): { citations: string[]; unverified: string[] } {
  const bracketed = new Set<string>();
  for (const m of text.matchAll(BRACKETED)) {
    for (const id of m[1]!.split(/[\s,]+/)) if (id && ID_TOKEN.test(id)) bracketed.add(id);
  }
  const known = new Set(retrieved);
  const citations = retrieved.filter((id) => bracketed.has(id) || new RegExp(`(^|[^A-Za-z0-9_.:-])${id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^A-Za-z0-9_:-])`).test(text));
  return { citations, unverified: [...bracketed].filter((id) => !known.has(id)) };
}

export interface ChatQuery {
  camera_id?: string;
  threat_level?: ThreatLevel;
  since: string;
  until?: string;
  incident_ids: string[];
  window: string;
}

export interface ChatAnswer {
  type: 'answer';
  /** False when the text was not written by the AI (not configured, budget spent, unreachable). */
  ai: boolean;
  text: string;
  /** Incident ids the answer cites that are among those retrieved (real ones only). */
  citations: string[];
  /** Ids in the answer that were NOT retrieved (dropped from citations). */
  unverified_ids: string[];
  query: ChatQuery;
  incidents: Pick<IncidentSummary, 'incident_id' | 'timestamp' | 'threat_level' | 'camera_id' | 'created_at'>[];
  model?: string;
  error?: string;
}

const UNITS: Record<string, number> = { minute: 60_000, min: 60_000, hour: 3_600_000, hr: 3_600_000, day: 86_400_000, week: 604_800_000 };

/** Reads camera, time window, level and incident ids from a question. */
export function parseQuestion(question: string, knownCameras: string[], now = Date.now()): ChatQuery {
  const q = question.toLowerCase();
  let windowMs = 86_400_000;
  let window = 'the last 24 hours';
  const m = /\b(?:last|past|previous)\s+(\d+|an?|one)?\s*(minute|min|hour|hr|day|week)s?\b/.exec(q);
  if (m) {
    const n = m[1] && /^\d+$/.test(m[1]) ? Number(m[1]) : 1;
    windowMs = n * UNITS[m[2]!]!;
    window = `the last ${n === 1 ? '' : `${n} `}${m[2] === 'min' ? 'minute' : m[2] === 'hr' ? 'hour' : m[2]}${n === 1 ? '' : 's'}`;
  } else if (/\btoday\b/.test(q)) {
    windowMs = now - Date.parse(new Date(now).toISOString().slice(0, 10));
    window = 'today (UTC)';
  } else if (/\bthis week\b/.test(q)) {
    windowMs = 604_800_000;
    window = 'the last 7 days';
  }
  const query: ChatQuery = { since: new Date(now - windowMs).toISOString(), incident_ids: [], window };

  // Cameras: an exact known id (longest first, so cam-10 wins over cam-1), else "camera 3" / "cam 3".
  for (const cam of [...knownCameras].sort((a, b) => b.length - a.length)) {
    const escaped = cam.toLowerCase().replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    if (new RegExp(`(^|[^a-z0-9_.:-])${escaped}($|[^a-z0-9_:-])`).test(q)) {
      query.camera_id = cam;
      break;
    }
  }
  if (!query.camera_id) {
    const c = /\bcam(?:era)?[\s_-]?([a-z0-9]+)\b/.exec(q);
    if (c) {
      const want = c[1]!;
      query.camera_id = knownCameras.find((k) => [`cam-${want}`, `cam${want}`, `cam_${want}`, `camera-${want}`, want].includes(k.toLowerCase())) ?? `cam-${want}`;
    }
  }
  for (const level of LEVELS) {
    if (new RegExp(`\\b${level.toLowerCase()}\\b`).test(q)) {
      query.threat_level = level;
      break;
    }
  }
  // Candidate ids: tokens that look like ids and contain a digit; retrieve() keeps the real ones.
  query.incident_ids = [...new Set(question.split(/[\s,;!?()"'\[\]]+/).map((t) => t.replace(/[.:]+$/, '')))]
    .filter((t) => ID_TOKEN.test(t) && /\d/.test(t))
    .slice(0, 50);
  return query;
}

export class OperatorChat {
  constructor(
    private readonly store: Store,
    private readonly snapshots: SnapshotService | null,
    /** Null when AI is not configured (ai.enabled false, or no API key). */
    private readonly client: GeminiClient | null,
    private readonly opinion: SecondOpinion | null,
    private readonly notConfiguredReason: string,
    private readonly log: Logger,
  ) {}

  private knownCameras(): string[] {
    return Object.keys(this.store.statistics().per_camera).filter((c) => c !== 'unknown');
  }

  /** The incidents a question is about, newest first, from indexed queries only. */
  retrieve(query: ChatQuery): IncidentSummary[] {
    const byId = query.incident_ids
      .map((id) => this.store.getIncident(id))
      .filter((i): i is NonNullable<typeof i> => i !== null)
      .map((i) => ({
        incident_id: i.incident_id,
        seq: i.seq,
        timestamp: i.timestamp,
        threat_level: i.threat_level,
        threat_score: i.threat_score,
        reported_level: i.reported_level,
        camera_id: i.camera_id,
        weapon_detected: i.weapon_detected,
        action_taken: i.action_taken,
        source: i.source,
        created_at: i.created_at,
      }));
    const listed = this.store.listIncidents({
      camera_id: query.camera_id,
      threat_level: query.threat_level,
      since: query.since,
      limit: MAX_CONTEXT_INCIDENTS,
    });
    const seen = new Set(byId.map((i) => i.incident_id));
    return [...byId, ...listed.filter((i) => !seen.has(i.incident_id))].slice(0, MAX_CONTEXT_INCIDENTS);
  }

  /** One line per incident: the grounding the model gets. */
  private context(incidents: IncidentSummary[]): string {
    return incidents
      .map((s) => {
        const i = this.store.getIncident(s.incident_id)!;
        const parts = [
          `[${i.incident_id}]`,
          `received ${i.created_at}`,
          `camera ${i.camera_id ?? 'unknown'}`,
          `level ${i.threat_level} (camera said ${i.reported_level}, score ${i.threat_score.toFixed(2)})`,
          `people ${i.people_count ?? '?'}`,
          i.weapon_detected ? `weapon ${i.weapon_types}` : 'no weapon',
        ];
        if (i.behavior_summary) parts.push(`behaviour "${i.behavior_summary.slice(0, 160)}"`);
        const actions = this.store.actionsFor(i.incident_id);
        if (actions.length) parts.push(`actions ${actions.map((a) => `${a.action_type}:${a.status}`).join(',')}`);
        const det = this.snapshots?.detection(i.incident_id);
        if (det) parts.push(`image model person ${det.person_conf.toFixed(2)} weapon ${det.weapon_conf.toFixed(2)}`);
        const ai = this.store.annotations.forIncident(i.incident_id).at(-1);
        if (ai) parts.push(`AI opinion "${ai.summary.slice(0, 160)}"${ai.needs_review ? ' (flagged for review)' : ''}`);
        return parts.join('; ');
      })
      .join('\n');
  }

  async answer(question: string): Promise<ChatAnswer> {
    const trimmed = question.trim().slice(0, MAX_QUESTION_CHARS);
    const query = parseQuestion(trimmed, this.knownCameras());
    const incidents = this.retrieve(query);
    const ids = incidents.map((i) => i.incident_id);
    const base = {
      type: 'answer' as const,
      query,
      incidents: incidents.map(({ incident_id, timestamp, threat_level, camera_id, created_at }) => ({ incident_id, timestamp, threat_level, camera_id, created_at })),
    };
    const where = `${query.camera_id ? ` at ${query.camera_id}` : ''}${query.threat_level ? ` at level ${query.threat_level}` : ''} in ${query.window}`;
    const listing = ids.length ? `${ids.length} incident(s)${where}: ${ids.join(', ')}.` : `no incidents${where}.`;

    if (!this.client || !this.opinion) {
      return {
        ...base,
        ai: false,
        text: `AI is not configured on this gateway (${this.notConfiguredReason}), so I cannot answer in plain language. From the store: ${listing}`,
        citations: ids,
        unverified_ids: [],
      };
    }
    const requestId = this.opinion.takeBudget('chat', null);
    if (requestId === null) {
      return { ...base, ai: false, text: `The AI daily budget is spent (ai.daily_budget). From the store: ${listing}`, citations: ids, unverified_ids: [], error: 'budget_exhausted' };
    }
    const system = [
      'You are the assistant of a security operator at one site. Answer ONLY from the incidents listed below, which the gateway',
      'retrieved from its own database for this question. Cite every incident you mention by its id in square brackets, e.g. [INC_1].',
      'If the list is empty or does not answer the question, say so. Do not invent incidents, ids, times or details.',
      `Retrieval: ${query.camera_id ? `camera ${query.camera_id}, ` : ''}${query.threat_level ? `level ${query.threat_level}, ` : ''}since ${query.since} (${query.window}).`,
      'Incidents (newest first):',
      incidents.length ? this.context(incidents) : '(none)',
    ].join('\n');
    try {
      const text = await this.client.chat(system, trimmed);
      this.opinion.recordOutcome(requestId, 'ok');
      const { citations, unverified } = citedIds(text, ids);
      return { ...base, ai: true, model: this.client.model, text, citations, unverified_ids: unverified };
    } catch (err) {
      const kind = err instanceof GeminiFailure ? err.kind : 'error';
      this.opinion.recordOutcome(requestId, kind);
      this.log.warn({ kind, err: (err as Error).message }, 'chat: Gemini request failed');
      return { ...base, ai: false, text: `The AI could not answer (${kind}). From the store: ${listing}`, citations: ids, unverified_ids: [], error: kind };
    }
  }
}
