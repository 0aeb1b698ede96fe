// npm run train [-- --seed N --prior-samples N --prior-strength N --config site.yaml --data-dir DIR --out DIR --no-site --force]
// Trains the re-scorer on the seeded prior plus this gateway's labelled incidents and
// writes rescorer.onnx + rescorer.json (by default into scoring.model_dir, where a
// running gateway picks the new pair up without a restart). Refuses (exit 1, nothing
// written) a model that does worse than the current one on the site's newest labels.
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/load.js';
import { PRIOR_STRENGTH, train, TrainingRefused, type HeldOutMetrics } from '../tools/train/train.js';
import { VERSION } from '../src/gateway.js';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '20260210' },
    'prior-samples': { type: 'string', default: '60000' },
    'prior-strength': { type: 'string', default: String(PRIOR_STRENGTH) },
    config: { type: 'string' },
    'data-dir': { type: 'string' },
    out: { type: 'string' },
    'held-out': { type: 'string', default: '0.2' },
    'no-site': { type: 'boolean', default: false },
    force: { type: 'boolean', default: false },
  },
});

const config = loadConfig({ file: values.config ?? process.env.SAFESPHERE_CONFIG, env: process.env });
const dataDir = values['data-dir'] ?? config.data_dir;
const outDir = resolve(values.out ?? config.scoring.model_dir);
const started = performance.now();
const show = (m: HeldOutMetrics) => `AUC ${m.auc.toFixed(4)}  Brier ${m.brier.toFixed(4)}  log loss ${m.log_loss.toFixed(4)}  (${m.samples} samples, ${m.positives} confirmed)`;
try {
  const result = train({
    seed: Number(values.seed),
    priorSamples: Number(values['prior-samples']),
    priorStrength: Number(values['prior-strength']),
    config,
    dbFile: values['no-site'] ? null : join(resolve(dataDir), 'safesphere.db'),
    outDir,
    heldOutFraction: Number(values['held-out']),
    producerVersion: VERSION,
    force: values.force,
  });
  const m = result.manifest;
  const site = m.metrics.site_held_out;
  process.stdout.write(
    [
      `model ${m.version}  (${((performance.now() - started) / 1000).toFixed(1)} s, ${m.model.iterations} Newton iterations)`,
      `training data: ${m.training_data.prior.samples} prior samples (synthetic, seed ${m.training_data.seed}, counted as ${m.training_data.prior.strength} labels) + ` +
        `${m.training_data.site.labelled_incidents} site labels (${m.training_data.site.confirmed} confirmed, ${m.training_data.site.false_alarm} false alarms)`,
      `prior held-out, model:        ${show(m.metrics.held_out)}`,
      `prior held-out, camera only:  ${show(m.metrics.baseline_held_out)}`,
      ...(site
        ? [
            `site held-out (${site.split}), model:       ${show(site.model)}`,
            `site held-out, camera only:  ${show(site.baseline)}`,
            ...(site.current ? [`site held-out, current model ${site.current.version}: ${show(site.current)}`] : []),
          ]
        : ['no site labels: the model is the prior alone']),
      ...(m.metrics.not_compared ? [`not compared with the current model: ${m.metrics.not_compared}`] : []),
      ...(m.metrics.forced_over ? [`written with --force over: ${m.metrics.forced_over}`] : []),
      `thresholds: MEDIUM ${m.thresholds.MEDIUM}  HIGH ${m.thresholds.HIGH}  CRITICAL ${m.thresholds.CRITICAL}`,
      `wrote ${result.onnxFile}`,
      `wrote ${result.manifestFile}`,
      '',
    ].join('\n'),
  );
} catch (err) {
  if (!(err instanceof TrainingRefused)) throw err;
  process.stderr.write(`npm run train refused: ${err.message}\n`);
  process.exitCode = 1;
}
