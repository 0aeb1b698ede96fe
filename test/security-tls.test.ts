// TLS on every listener from cert/key files: the HTTPS API, MQTT over TLS, MQTT over
// WebSocket (wss), the Node-RED editor; and a SIGHUP to the real daemon swaps the
// certificate without a restart. Certificates are made by the openssl CLI.
import { execFileSync, spawnSync } from 'node:child_process';
import { renameSync, rmSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReportedLevelScorer } from '../src/scoring/scorer.js';
import { Daemon, reapDaemons } from './daemon.js';
import { seedReport, startGateway, tempDir, type TestGateway } from './helpers.js';

const haveOpenssl = spawnSync('openssl', ['version']).status === 0;

function makeCert(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { cert, key };
}

/** The CN of the certificate a TLS server presents. */
function peerCn(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const cn = s.getPeerCertificate().subject?.CN;
      s.end();
      resolve(String(cn));
    });
    s.once('error', reject);
  });
}

function httpsJson(url: string, ca: Buffer): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    httpsGet(url, { ca }, (res) => {
      let data = '';
      res.setEncoding('utf8').on('data', (d: string) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(data) }));
    }).once('error', reject);
  });
}

describe.skipIf(!haveOpenssl)('TLS listeners', () => {
  const dir = tempDir('safesphere-tls-');
  let gw: TestGateway;
  let ca: Buffer;
  beforeAll(async () => {
    const { cert, key } = makeCert(dir, 'gw-one');
    ca = execFileSync('cat', [cert]);
    gw = await startGateway(
      {
        tls: { cert_file: cert, key_file: key, http: true, mqtt: true, mqtt_ws: true, nodered: true },
        mqtt: { host: '127.0.0.1', port: 0, tls_port: 0, ws_enabled: true, ws_port: 0 },
        nodered: { enabled: true, port: 0, host: '127.0.0.1' },
      },
      { scorer: new ReportedLevelScorer() },
    );
  }, 60_000);
  afterAll(async () => {
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the API over HTTPS, verified against the configured certificate', async () => {
    const { status, body } = await httpsJson(`https://127.0.0.1:${gw.gateway.get('http')!.port}/health`, ca);
    expect(status).toBe(200);
    expect(body.components.db.status).toBe('up');
  });

  it('takes reports over mqtts:// (8883-style listener) and wss:// (MQTT over WebSocket)', async () => {
    const viaTls = await mqtt.connectAsync(`mqtts://127.0.0.1:${gw.gateway.get('broker')!.tlsPort}`, { ca, reconnectPeriod: 0 });
    await viaTls.publishAsync('safesphere/cameras/cam-tls/threats', JSON.stringify(seedReport({ incident_id: 'TLS_1' })), { qos: 1 });
    await viaTls.endAsync();
    const viaWs = await mqtt.connectAsync(`wss://127.0.0.1:${gw.gateway.get('broker')!.wsPort}/mqtt`, { ca, reconnectPeriod: 0 } as mqtt.IClientOptions);
    await viaWs.publishAsync('safesphere/cameras/cam-ws/threats', JSON.stringify(seedReport({ incident_id: 'WSS_1' })), { qos: 1 });
    await viaWs.endAsync();
    for (const id of ['TLS_1', 'WSS_1']) expect((await httpsJson(`https://127.0.0.1:${gw.gateway.get('http')!.port}/incidents/${id}`, ca)).status).toBe(200);
  });

  it('serves the Node-RED editor over HTTPS', async () => {
    const port = gw.gateway.get('automation')!.nodeRed.port;
    expect(await peerCn(port)).toBe('gw-one');
  });

  it('reload() swaps the certificate of every listener, and keeps the old one if the new files are bad', async () => {
    const next = makeCert(dir, 'gw-two');
    renameSync(next.cert, join(dir, 'gw-one.crt'));
    renameSync(next.key, join(dir, 'gw-one.key'));
    expect(gw.gateway.reload().tls).toBe(true);
    for (const port of [gw.gateway.get('http')!.port, gw.gateway.get('broker')!.tlsPort, gw.gateway.get('broker')!.wsPort, gw.gateway.get('automation')!.nodeRed.port]) {
      expect(await peerCn(port)).toBe('gw-two');
    }
    execFileSync('sh', ['-c', `echo garbage > ${join(dir, 'gw-one.key')}`]);
    expect(gw.gateway.reload().tls).toBe(false);
    expect(await peerCn(gw.gateway.get('http')!.port)).toBe('gw-two');
    expect(gw.logs.lines.some((l) => l.msg === 'tls reload failed; keeping the current certificate')).toBe(true);
  });
});

describe.skipIf(!haveOpenssl)('SIGHUP to the daemon', () => {
  const dir = tempDir('safesphere-tls-hup-');
  afterAll(async () => {
    await reapDaemons();
    rmSync(dir, { recursive: true, force: true });
  });
  it('reloads the certificate without a restart', async () => {
    const { cert, key } = makeCert(dir, 'hup-one');
    const daemon = await Daemon.start(join(dir, 'data'), { SAFESPHERE_TLS_CERT_FILE: cert, SAFESPHERE_TLS_KEY_FILE: key, SAFESPHERE_TLS_HTTP: 'true' });
    expect(await peerCn(daemon.httpPort)).toBe('hup-one');
    const next = makeCert(dir, 'hup-two');
    renameSync(next.cert, cert);
    renameSync(next.key, key);
    daemon.child.kill('SIGHUP');
    await daemon.waitForLog((l) => l.msg === 'tls certificate reloaded');
    expect(await peerCn(daemon.httpPort)).toBe('hup-two');
    expect(daemon.exitStatus).toBeNull();
    expect(await daemon.kill('SIGTERM')).toEqual({ code: 0, signal: null });
  }, 40_000);
});
