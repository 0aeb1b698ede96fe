// Property-based fuzzing (fast-check) of the three parsers that take outside input: the
// report parser (MQTT payloads and HTTP bodies), the config loader (files and environment)
// and the multipart upload path. Each either accepts or refuses with its own coded error:
// never another exception, never a 5xx, never an unhandled rejection.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { loadConfig as load } from '../../src/config/load.js';
import { GatewayError } from '../../src/errors.js';
import { ReportValidator } from '../../src/validate/report.js';
import { ReportedLevelScorer } from '../../src/scoring/scorer.js';
import { seedReport, startGateway, tempDir, type TestGateway } from '../helpers.js';

const RUNS = { parser: 5000, config: 1500, multipart: 400 };
const unhandled: unknown[] = [];
const onUnhandled = (err: unknown) => unhandled.push(err);

beforeAll(() => {
  process.on('unhandledRejection', onUnhandled);
});
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
  expect(unhandled, 'unhandled rejections during fuzzing').toEqual([]);
});

/** Reports close to valid, with fields mutated into anything: exercises deep paths, not just JSON.parse. */
const mutatedReport = fc
  .record({
    drop: fc.subarray(Object.keys(seedReport())),
    set: fc.dictionary(fc.constantFrom(...Object.keys(seedReport()), 'camera_id', '__proto__', 'constructor', 'extra'), fc.jsonValue({ maxDepth: 20 })),
  })
  .map(({ drop, set }) => {
    const r: Record<string, unknown> = seedReport();
    for (const k of drop) delete r[k];
    return JSON.stringify({ ...r, ...set });
  });

const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 2048 }).map((a) => Buffer.from(a)),
  fc.string({ maxLength: 2048 }).map((s) => Buffer.from(s)),
  fc.jsonValue({ maxDepth: 30 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
  mutatedReport.map((s) => Buffer.from(s)),
  // Deep nesting, the classic stack-overflow probe.
  fc.integer({ min: 1, max: 20000 }).map((n) => Buffer.from(`{"full_telemetry":${'['.repeat(n)}${']'.repeat(n)}}`)),
);

describe('report parser', () => {
  it(`never throws anything but a GatewayError (${RUNS.parser} cases)`, () => {
    const validator = new ReportValidator(loadConfig().report);
    let accepted = 0;
    fc.assert(
      fc.property(bytes, fc.option(fc.stringMatching(/^[A-Za-z0-9_.:-]{1,70}$/)), (payload, camera) => {
        try {
          validator.parse(payload, camera === null ? 'http' : 'mqtt', camera);
          accepted++;
        } catch (err) {
          if (!(err instanceof GatewayError)) throw err;
          expect(err.statusCode).toBeGreaterThanOrEqual(400);
          expect(err.statusCode).toBeLessThan(500);
        }
      }),
      { numRuns: RUNS.parser },
    );
    console.log(`[faults] fuzz: report parser ${RUNS.parser} cases, ${accepted} accepted, the rest refused with a 4xx GatewayError`);
  });
});

describe('config loader', () => {
  const dir = tempDir('safesphere-fuzz-config-');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const yamlish = fc.oneof(
    fc.string({ maxLength: 400 }),
    fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.stringify(v) ?? ''),
    fc
      .dictionary(fc.constantFrom('http', 'mqtt', 'auth', 'limits', 'tls', 'site_id', 'data_dir', 'ingest', 'sync', 'zones', 'x'), fc.jsonValue({ maxDepth: 4 }))
      .map((o) => JSON.stringify(o)),
    // (An unknown tag makes the yaml package print a warning on stderr: noise, not a failure.)
    fc.constantFrom('a: [', '? : :', '&a [*a]', '!!binary x', 'site_id: [1, {a: *x}]', '\t- -', '---\n---\n'),
  );
  const envs = fc.dictionary(
    fc.constantFrom('SAFESPHERE_HTTP_PORT', 'SAFESPHERE_AUTH_TOKENS', 'SAFESPHERE_AUTH_CAMERA_NETWORKS', 'SAFESPHERE_LIMITS_MQTT_BURST', 'SAFESPHERE_MQTT_ACCOUNTS', 'SAFESPHERE_NOPE', 'SAFESPHERE_ZONES'),
    fc.string({ maxLength: 60 }),
  );
  it(`returns a config or throws a ConfigError, nothing else (${RUNS.config} cases)`, () => {
    let valid = 0;
    let i = 0;
    fc.assert(
      fc.property(yamlish, envs, (text, env) => {
        const file = join(dir, `c${i++ % 8}.yaml`);
        writeFileSync(file, text);
        try {
          load({ file, env });
          valid++;
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
          expect(err.problems.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: RUNS.config },
    );
    console.log(`[faults] fuzz: config loader ${RUNS.config} cases, ${valid} valid, the rest refused with a ConfigError`);
  });
});

describe('multipart upload path', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({}, { scorer: new ReportedLevelScorer() });
  });
  afterAll(() => gw.stop());

  const boundary = 'fuzzBoundary7MA4YWxk';
  const part = fc.record({
    name: fc.oneof(fc.constantFrom('incident_id', 'file', 'x'), fc.string({ maxLength: 70 })),
    filename: fc.option(fc.oneof(fc.constantFrom('a.jpg', '../../etc/passwd', 'C:\\x.png', ''), fc.string({ maxLength: 80 }))),
    type: fc.option(fc.constantFrom('image/jpeg', 'image/png', 'text/plain', '')),
    body: fc.oneof(
      fc.uint8Array({ maxLength: 4096 }).map((a) => Buffer.from(a)),
      fc.constantFrom(Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from('\x89PNG\r\n\x1a\n'), Buffer.from('INC_FUZZ_1')),
    ),
  });
  const body = fc.oneof(
    fc.array(part, { maxLength: 6 }).map((parts) =>
      Buffer.concat([
        ...parts.flatMap((p) => [
          Buffer.from(
            `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"${p.filename !== null ? `; filename="${p.filename}"` : ''}\r\n` +
              (p.type ? `Content-Type: ${p.type}\r\n` : '') +
              '\r\n',
          ),
          p.body,
          Buffer.from('\r\n'),
        ]),
        Buffer.from(`--${boundary}--\r\n`),
      ]),
    ),
    fc.uint8Array({ maxLength: 4096 }).map((a) => Buffer.from(a)),
  );

  it(`answers every body with a 2xx/4xx, never a 5xx or a crash (${RUNS.multipart} cases)`, async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(body, fc.boolean(), async (payload, truncate) => {
        const data = truncate ? payload.subarray(0, Math.floor(payload.length / 2)) : payload;
        const res = await fetch(`${gw.httpUrl}/upload/screenshot`, {
          method: 'POST',
          headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
          body: data,
        });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        await res.arrayBuffer();
        expect(res.status, `status for ${data.length} bytes`).toBeLessThan(500);
      }),
      { numRuns: RUNS.multipart },
    );
    const health = await fetch(`${gw.httpUrl}/health`);
    expect(health.status).toBe(200);
    await health.arrayBuffer();
    console.log(`[faults] fuzz: multipart ${RUNS.multipart} cases, statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
  }, 120_000);
});
