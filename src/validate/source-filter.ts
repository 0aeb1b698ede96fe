// The `source` query parameter of the statistics, list, analysis, timelapse, feed and sync
// APIs: one source (mqtt, http, frigate, onvif) or `threat_cv` for both threat_cv transports.
import { SOURCE_FILTERS, type IncidentSource } from '../config/schema.js';
import { ERRORS, GatewayError } from '../errors.js';

/** The sources a `source` parameter names; undefined when it is absent or empty (no filter). */
export function parseSourceFilter(raw: unknown, path = 'source'): readonly IncidentSource[] | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  const sources = typeof raw === 'string' ? SOURCE_FILTERS[raw.toLowerCase()] : undefined;
  if (!sources || !Object.hasOwn(SOURCE_FILTERS, String(raw).toLowerCase())) {
    throw new GatewayError(ERRORS.BAD_SOURCE_FILTER, [{ path, message: `must be one of ${Object.keys(SOURCE_FILTERS).join(', ')}` }]);
  }
  return sources;
}
