// npm run evaluate [-- --config site.yaml --data-dir DIR --days 30 --json]
// The re-scorer against this site's own labels, read from the gateway database (read-only,
// beside a running gateway): the evidence for scoring.mode shadow → active.
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/load.js';
import { evaluate } from '../src/scoring/evaluation.js';
import { WeaponVocabulary } from '../src/scoring/vocabulary.js';
import { readEvaluationRows } from '../src/store/evaluation.js';

const { values } = parseArgs({
  options: { config: { type: 'string' }, 'data-dir': { type: 'string' }, days: { type: 'string', default: '30' }, json: { type: 'boolean', default: false } },
});
const config = loadConfig({ file: values.config ?? process.env.SAFESPHERE_CONFIG, env: process.env });
const dbFile = join(resolve(values['data-dir'] ?? config.data_dir), 'safesphere.db');
const since = new Date(Date.now() - Number(values.days) * 86_400_000).toISOString();
const report = evaluate(readEvaluationRows(dbFile, since), new WeaponVocabulary(config.scoring.firearm_terms));
if (values.json) {
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
} else {
  const f = report.false_police_calls;
  const c = report.confirmed_lowered;
  process.stdout.write(
    [
      `scoring.mode ${config.scoring.mode}; ${report.reports} re-scored reports from ${report.window.cameras} cameras over ${report.window.days} days since ${since}`,
      `labels: ${report.labelled.total} (${report.labelled.confirmed} confirmed, ${report.labelled.false_alarm} false alarms)`,
      `false police calls (HIGH+ labelled false): camera ${f.camera.count} (${f.camera.per_camera_day}/camera-day), model ${f.model.count} (${f.model.per_camera_day}/camera-day)`,
      ...Object.entries(f.by_camera).map(([cam, v]) => `  ${cam}: camera ${v.camera}, model ${v.model}`),
      `confirmed reports lowered: ${c.count} of ${c.of} (${(c.share * 100).toFixed(1)} %, 95 % upper bound ${(c.upper_95 * 100).toFixed(1)} %)`,
      `firearm reports lowered: ${report.firearm_lowered.count} of ${report.firearm_lowered.of}`,
      `calibration error (ECE): ${report.calibration.ece}`,
      `label sampling: ${report.label_sampling}`,
      '',
    ].join('\n'),
  );
}
