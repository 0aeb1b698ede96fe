// The incident query API: lists, the one incident view (the API's and the dashboard's), the
// statistics, and operator labels. After the features whose data the view shows.
import type { Module, ModuleContext } from '../module.js';
import { labelRoutes } from './label-routes.js';
import { incidentRoutes } from './routes.js';
import { IncidentDetails } from './details.js';

export function create(ctx: ModuleContext): Module {
  const { store, config } = ctx;
  const labels = ctx.store.labels;
  const operations = ctx.find('operations');
  const snapshots = ctx.find('snapshots');
  const notify = ctx.find('notify');
  const view = new IncidentDetails({
    actions: (id) => store.actionsFor(id),
    alerts: (id) => store.alertsFor(id),
    labels: (id) => labels.forIncident(id),
    annotations: (id) => store.annotations.forIncident(id),
    zoneOf: (camera) => operations?.queries.zoneOf(camera) ?? null,
    operatorStatus: (id) => operations?.queries.status(id) ?? null,
    snapshot: (id) => snapshots?.get(id) ?? null,
    detections: (id) => snapshots?.detection(id) ?? null,
    related: (incident) =>
      incident.source_key === null
        ? []
        : store.incidents.related(incident.source, incident.source_key).filter((r) => r.incident_id !== incident.incident_id),
    escalation: (id) => notify?.escalationOf(id) ?? null,
    deliveries: (id) => notify?.deliveriesOf(id) ?? [],
  });
  // The dashboard's path is served only while the dashboard is.
  const paths = config.dashboard.enabled ? ['/incidents/:incident_id', '/api/incidents/:incident_id'] : ['/incidents/:incident_id'];
  return {
    name: 'incidents',
    start: async () => {},
    stop: async () => {},
    async routes(app) {
      await app.register(incidentRoutes(store, view, paths));
      await app.register(labelRoutes(labels));
    },
    banner: (at) => [
      `Incidents       : GET ${at.http}/incidents  /incidents/{id}  /incidents/threat_level/{level}  /statistics`,
      `  POST ${at.http}/incidents/{id}/label  /incidents/{id}/acknowledge  /incidents/{id}/resolve`,
    ],
  };
}
