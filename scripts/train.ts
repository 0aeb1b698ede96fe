// npm run train [-- --seed N --prior-samples N --config site.yaml --data-dir DIR --out DIR --site-weight W]
// Trains the re-scorer on the seeded prior plus this gateway's labelled incidents and
// writes rescorer.onnx + rescorer.json (by default into scoring.model_dir, where a
// running gateway picks the new pair up without a restart).
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/load.js';
import { train } from '../tools/train/train.js';
import { VERSION } from '../src/gateway.js';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '20260210' },
    'prior-samples': { type: 'string', default: '60000' },
    config: { type: 'string' },
    'data-dir': { type: 'string' },
    out: { type: 'string' },
    'site-weight': { type: 'string', default: '1' },
    'held-out': { type: 'string', default: '0.2' },
    'no-site': { type: 'boolean', default: false },
  },
});

const config = loadConfig({ file: values.config ?? process.env.SAFESPHERE_CONFIG, env: process.env });
const dataDir = values['data-dir'] ?? config.data_dir;
const outDir = resolve(values.out ?? config.scoring.model_dir);
const started = performance.now();
const result = train({
  seed: Number(values.seed),
  priorSamples: Number(values['prior-samples']),
  config,
  dbFile: values['no-site'] ? null : join(resolve(dataDir), 'safesphere.db'),
  outDir,
  siteWeight: Number(values['site-weight']),
  heldOutFraction: Number(values['held-out']),
  producerVersion: VERSION,
});
const m = result.manifest;
const h = m.metrics.held_out;
process.stdout.write(
  [
    `model ${m.version}  (${((performance.now() - started) / 1000).toFixed(1)} s, ${m.model.iterations} Newton iterations)`,
    `training data: ${m.training_data.prior.samples} prior samples (synthetic, seed ${m.training_data.seed}) + ` +
      `${m.training_data.site.labelled_incidents} site labels (${m.training_data.site.confirmed} confirmed, ${m.training_data.site.false_alarm} false alarms)`,
    `held-out (${h.samples} samples, ${h.positives} positive): AUC ${h.auc.toFixed(4)}  Brier ${h.brier.toFixed(4)}  log loss ${h.log_loss.toFixed(4)}`,
    `wrote ${result.onnxFile}`,
    `wrote ${result.manifestFile}`,
    '',
  ].join('\n'),
);
