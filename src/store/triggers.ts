// Every SQL trigger the schema keeps, and why it is a trigger: each guarantees that a
// derived row is written in the SAME transaction as the change it derives from, whichever
// code path (or a hand-run SQL statement during support) makes the change. Anything that
// only one repository method writes is written by that method instead (incident facets:
// migration 7 dropped their trigger; outbox entries of incidents, labels, snapshots and
// annotations: see outbox.ts). test/store-boundary.test.ts checks this list against the
// triggers a migrated database has. Migrations that have shipped are never edited.

export interface TriggerInfo {
  name: string;
  /** The table whose changes fire it. */
  on: string;
  /** The migration that created it. */
  migration: number;
  why: string;
}

export const TRIGGERS: readonly TriggerInfo[] = [
  {
    name: 'incident_counts_insert',
    on: 'incidents',
    migration: 1,
    why: 'incident_counts (GET /statistics in O(cameras)) must match incidents exactly, including rows removed by retention cascades',
  },
  { name: 'incident_counts_delete', on: 'incidents', migration: 1, why: 'as incident_counts_insert: a delete from any path (retention) moves the counters with it' },
  { name: 'incident_counts_update', on: 'incidents', migration: 1, why: 'as incident_counts_insert: a changed level, camera or weapon flag moves the counters with it' },
  {
    name: 'outbox_action_outcome',
    on: 'actions',
    // Re-created by 11 with the honest final states.
    migration: 11,
    why: 'an action outcome must reach the cloud exactly when it is committed, whoever updates the action (automation, support SQL)',
  },
  { name: 'outbox_alert', on: 'alerts', migration: 3, why: 'as outbox_action_outcome, for every alert row inserted' },
  {
    name: 'ops_feed_incident',
    on: 'incidents',
    // Created by migration 6; migration 8 recreated the five ops_feed triggers with the incident's source.
    migration: 8,
    why: 'the live feed (/ws/incidents) is resumable by seq: its row must commit with the incident, in commit order',
  },
  { name: 'ops_feed_action', on: 'actions', migration: 11, why: 'as ops_feed_incident, for every action status change' },
  { name: 'ops_feed_label', on: 'labels', migration: 8, why: 'as ops_feed_incident, for every label' },
  { name: 'ops_feed_status_insert', on: 'incident_status', migration: 11, why: 'as ops_feed_incident, for an acknowledgement or resolution' },
  { name: 'ops_feed_status_update', on: 'incident_status', migration: 11, why: 'as ops_feed_status_insert, when the status changes again' },
  {
    name: 'incident_source_counts_insert',
    on: 'incidents',
    migration: 8,
    why: 'incident_source_counts (GET /statistics?source=, per_source) must match incidents exactly, as incident_counts does',
  },
  { name: 'incident_source_counts_delete', on: 'incidents', migration: 8, why: 'as incident_source_counts_insert: retention deletes move the counters with them' },
  { name: 'incident_source_counts_update', on: 'incidents', migration: 8, why: 'as incident_source_counts_insert: a changed level, camera, weapon flag or source moves the counters' },
  { name: 'ops_feed_action_insert', on: 'actions', migration: 11, why: 'as ops_feed_incident, for a delivery an escalation step plans (inserted already dispatched)' },
  { name: 'ops_feed_escalation_insert', on: 'escalations', migration: 11, why: 'as ops_feed_incident: the guard sees an escalation start in the transaction that starts it' },
  { name: 'ops_feed_escalation_update', on: 'escalations', migration: 11, why: 'as ops_feed_escalation_insert, for every step, acknowledgement and exhaustion' },
];
