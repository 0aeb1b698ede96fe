// ONVIF cameras as a report source: one pull-point subscription per configured camera (the
// onvif package), analytics topics mapped to levels, each event through the same validator and
// pipeline as threat_cv reports (validate → re-score → one durable commit). Off unless
// onvif.enabled. /health has one entry per camera (`onvif:<camera id>`).
import { ERRORS, GatewayError } from '../errors.js';
import type { Module, ModuleContext } from '../module.js';
import { readSecret } from '../security/secrets.js';
import { OnvifCamera, parseAddress, type Submit } from './camera.js';

declare module '../module.js' {
  interface Exports {
    onvif: ReadonlyMap<string, OnvifCamera>;
  }
}

export function create(ctx: ModuleContext): Module | null {
  const c = ctx.config.onvif;
  if (!c.enabled) return null;
  const log = ctx.logger('onvif');
  const validator = ctx.use('validator');
  const pipeline = ctx.use('pipeline');
  const submit: Submit = async (report) => {
    try {
      const valid = validator.validate(report.body, 'onvif', report.body.camera_id, { provenance: report.provenance });
      // The camera cannot resend a pulled message: a brief overload or a full disk is waited out a little.
      for (let attempt = 0, delay = 100; ; attempt++, delay *= 2) {
        try {
          return (await pipeline.submit(valid)).kind;
        } catch (err) {
          const retry = err instanceof GatewayError && [ERRORS.OVERLOADED.code, ERRORS.STORAGE_FULL.code].includes(err.code);
          if (!retry || attempt >= 5) throw err;
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    } catch (err) {
      const code = err instanceof GatewayError ? err.code : ERRORS.INTERNAL.code;
      // A pulled message cannot be pulled again: a refusal (overload, storage, shutdown) loses it, so it is logged loudly.
      log.error({ code, incident_id: report.body.incident_id, details: err instanceof GatewayError ? err.details : undefined }, 'onvif event not stored');
      ctx.bus.emit('report.rejected', { source: 'onvif', cameraId: report.body.camera_id, code, message: (err as Error).message });
      return 'refused';
    }
  };
  const cameras = new Map<string, OnvifCamera>();
  for (const camera of c.cameras) {
    if (cameras.has(camera.id)) throw new Error(`onvif.cameras: camera id "${camera.id}" is listed twice`);
    parseAddress(camera.address); // a bad address stops the start, naming it
    const password = () => readSecret(camera.password, camera.password_file, `onvif.cameras.${camera.id}.password_file`);
    cameras.set(camera.id, new OnvifCamera(c, camera, password, submit, log.child({ camera_id: camera.id })));
  }
  ctx.provide('onvif', cameras);
  return {
    name: 'onvif',
    async start() {
      for (const camera of cameras.values()) camera.start();
    },
    async stop() {
      await Promise.all([...cameras.values()].map((camera) => camera.stop()));
    },
    health: () => Object.fromEntries([...cameras].map(([id, camera]) => [`onvif:${id}`, camera.health()])),
    banner: () => [`ONVIF cameras   : ${[...cameras.values()].map((cam) => `${cam.camera.id} (${cam.camera.address})`).join(', ') || 'none configured'}`],
  };
}
