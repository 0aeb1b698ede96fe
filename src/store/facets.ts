// Behaviour and weapon-family facets of an incident (incident_facets), for the analysis API.
// Written by the commit transaction itself, from patterns kept in facet_patterns (SQL LIKE
// syntax). Matching in JS with compiled expressions costs a fraction of doing it in a SQL
// trigger, which ran ~27 LIKE evaluations and a json_each per stored report.
import type Database from 'better-sqlite3';

interface Pattern {
  kind: 'behaviour' | 'weapon';
  value: string;
  re: RegExp;
}

/** SQL LIKE (case-insensitive for ASCII, % and _ wildcards, no ESCAPE) as a RegExp. */
function likeToRegExp(pattern: string): RegExp {
  const body = [...pattern]
    .map((c) => (c === '%' ? '.*' : c === '_' ? '.' : c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`, 'is');
}

export class FacetWriter {
  private readonly patterns: Pattern[];
  private readonly insert: Database.Statement;

  constructor(db: Database.Database) {
    this.patterns = (db.prepare('SELECT kind, value, pattern FROM facet_patterns').all() as { kind: Pattern['kind']; value: string; pattern: string }[]).map(
      (p) => ({ kind: p.kind, value: p.value, re: likeToRegExp(p.pattern) }),
    );
    this.insert = db.prepare('INSERT OR IGNORE INTO incident_facets (incident_id, created_at, kind, value) VALUES (?, ?, ?, ?)');
  }

  /** The facets of one incident: behaviours named in its summary, the family of each weapon type. */
  facetsOf(behaviorSummary: string | null, weaponTypes: readonly string[]): { kind: Pattern['kind']; value: string }[] {
    const out = new Map<string, { kind: Pattern['kind']; value: string }>();
    if (behaviorSummary !== null) {
      for (const p of this.patterns) {
        if (p.kind === 'behaviour' && p.re.test(behaviorSummary)) out.set(`b:${p.value}`, { kind: 'behaviour', value: p.value });
      }
    }
    for (const weapon of weaponTypes) {
      let family = 'other';
      for (const p of this.patterns) {
        if (p.kind !== 'weapon' || !p.re.test(weapon)) continue;
        family = p.value;
        if (family === 'firearm') break; // a firearm pattern wins over any other
      }
      out.set(`w:${family}`, { kind: 'weapon', value: family });
    }
    return [...out.values()];
  }

  /** Inserts the facets; call inside the incident's own transaction. */
  write(incidentId: string, createdAt: string, behaviorSummary: string | null, weaponTypes: readonly string[]): void {
    for (const f of this.facetsOf(behaviorSummary, weaponTypes)) this.insert.run(incidentId, createdAt, f.kind, f.value);
  }
}
