// AI annotations of incidents and the AI request log (migration 5). The request log is the
// daily budget and the per-incident cap, counted in SQLite so a restart does not reset them.
import type { ThreatLevel } from '../config/schema.js';
import type { OutboxRepository } from './outbox.js';
import { Repository, type Db } from './repository.js';

export interface Annotation {
  id: number;
  incident_id: string;
  kind: string;
  model: string;
  summary: string;
  threat_confirmed: boolean;
  confidence: number;
  potential_threat_level: ThreatLevel;
  recommended_actions: string[];
  needs_review: boolean;
  review_reason: string | null;
  images_sent: boolean;
  created_at: string;
}

/** A second opinion to store; `kind` is always ai_second_opinion. */
export type NewOpinion = Omit<Annotation, 'id' | 'kind'>;

type AnnotationRow = Omit<Annotation, 'threat_confirmed' | 'needs_review' | 'images_sent' | 'recommended_actions'> & {
  threat_confirmed: number;
  needs_review: number;
  images_sent: number;
  recommended_actions: string;
};

function prepare(db: Db) {
  return {
    requestsOn: db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM ai_requests WHERE day = ?'),
    opinionRequestsFor: db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM ai_requests WHERE incident_id = ? AND purpose = 'opinion'"),
    logRequest: db.prepare<[string, string, string | null, string], { id: number }>(
      'INSERT INTO ai_requests (day, purpose, incident_id, at) VALUES (?, ?, ?, ?) RETURNING id',
    ),
    setOutcome: db.prepare<[string, number]>('UPDATE ai_requests SET outcome = ? WHERE id = ?'),
    forget: db.prepare<[number]>('DELETE FROM ai_requests WHERE id = ?'),
    hasOpinion: db.prepare<[string], { x: number }>("SELECT 1 AS x FROM annotations WHERE incident_id = ? AND kind = 'ai_second_opinion' LIMIT 1"),
    insertOpinion: db.prepare<Record<string, unknown>>(`INSERT INTO annotations (incident_id, kind, model, summary, threat_confirmed, confidence,
        potential_threat_level, recommended_actions, needs_review, review_reason, images_sent, created_at)
      VALUES (@incident_id, 'ai_second_opinion', @model, @summary, @threat_confirmed, @confidence, @potential_threat_level,
        @recommended_actions, @needs_review, @review_reason, @images_sent, @created_at)`),
    forIncident: db.prepare<[string], AnnotationRow>(
      `SELECT id, incident_id, kind, model, summary, threat_confirmed, confidence, potential_threat_level, recommended_actions,
         needs_review, review_reason, images_sent, created_at FROM annotations WHERE incident_id = ? ORDER BY id`,
    ),
  };
}

export class AnnotationRepository extends Repository<ReturnType<typeof prepare>> {
  constructor(private readonly outbox: OutboxRepository) {
    super();
  }

  protected prepare(db: Db) {
    return prepare(db);
  }

  // --- the AI request log ----------------------------------------------------------------

  /** Requests logged on a UTC day (YYYY-MM-DD). */
  requestsOn(day: string): number {
    return this.st.requestsOn.get(day)!.n;
  }

  opinionRequestsFor(incidentId: string): number {
    return this.st.opinionRequestsFor.get(incidentId)!.n;
  }

  /** Logs one request; returns its id. */
  logRequest(day: string, purpose: 'opinion' | 'chat', incidentId: string | null, at: string): number {
    return this.st.logRequest.get(day, purpose, incidentId, at)!.id;
  }

  setOutcome(requestId: number, outcome: string): void {
    this.st.setOutcome.run(outcome, requestId);
  }

  /** Removes a request from the log (one that never reached the model costs no quota). */
  forgetRequest(requestId: number): void {
    this.st.forget.run(requestId);
  }

  // --- annotations -----------------------------------------------------------------------

  hasOpinion(incidentId: string): boolean {
    return this.st.hasOpinion.get(incidentId) !== undefined;
  }

  /** The annotation row and its outbox 'annotation' entry, in ONE transaction; returns the row id. */
  addOpinion(a: NewOpinion, outboxPayload: (annotationId: number) => Record<string, unknown>): number {
    return this.tx(() => {
      const info = this.st.insertOpinion.run({
        incident_id: a.incident_id,
        model: a.model,
        summary: a.summary,
        threat_confirmed: a.threat_confirmed ? 1 : 0,
        confidence: a.confidence,
        potential_threat_level: a.potential_threat_level,
        recommended_actions: JSON.stringify(a.recommended_actions),
        needs_review: a.needs_review ? 1 : 0,
        review_reason: a.review_reason,
        images_sent: a.images_sent ? 1 : 0,
        created_at: a.created_at,
      });
      const id = Number(info.lastInsertRowid);
      this.outbox.enqueue('annotation', a.incident_id, { payload: outboxPayload(id) });
      return id;
    });
  }

  /** Annotations of one incident, oldest first, for GET /incidents/{id}. */
  forIncident(incidentId: string): Annotation[] {
    return this.st.forIncident.all(incidentId).map((r) => ({
      ...r,
      threat_confirmed: r.threat_confirmed === 1,
      needs_review: r.needs_review === 1,
      images_sent: r.images_sent === 1,
      recommended_actions: JSON.parse(r.recommended_actions) as string[],
    }));
  }
}
