// Evidence snapshots over HTTP: the seed's POST /upload/screenshot (multipart: incident_id
// and one file), and GET /incidents/{id}/snapshot and /thumbnail.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { FastifyPluginAsync } from 'fastify';
import multipart from '@fastify/multipart';
import { Type } from '@sinclair/typebox';
import { ERRORS, GatewayError } from '../errors.js';
import { tooManyBytes } from './image.js';
import { checkIncidentId, type SnapshotService } from './snapshots.js';

/** The upload's own file name is never used as a path; one that tries to be a path is refused. */
export function checkUploadName(name: string | undefined): void {
  if (name === undefined || name === '') return;
  if (name.length > 255 || /[/\\\0]/.test(name) || name === '.' || name === '..' || /[\x00-\x1f]/.test(name)) {
    throw new GatewayError(ERRORS.INVALID_SNAPSHOT, [
      { path: 'file.filename', message: 'must be a plain file name (no path separators, no "..", no control characters)' },
    ]);
  }
}

const MULTIPART_ERRORS: Record<string, (maxBytes: number) => GatewayError> = {
  FST_REQ_FILE_TOO_LARGE: (maxBytes) => tooManyBytes(maxBytes),
  FST_PARTS_LIMIT: () => new GatewayError(ERRORS.INVALID_SNAPSHOT, [{ path: '(body)', message: 'has too many parts' }]),
  FST_FILES_LIMIT: () => new GatewayError(ERRORS.INVALID_SNAPSHOT, [{ path: '(body)', message: 'must carry exactly one file' }]),
  FST_FIELDS_LIMIT: () => new GatewayError(ERRORS.INVALID_SNAPSHOT, [{ path: '(body)', message: 'has too many fields' }]),
  FST_INVALID_MULTIPART_CONTENT_TYPE: () =>
    new GatewayError(ERRORS.UNSUPPORTED_MEDIA_TYPE, [{ path: '(body)', message: 'send multipart/form-data with incident_id and file' }], 'Send the snapshot as multipart/form-data'),
};

function mapMultipartError(err: unknown, maxBytes: number): unknown {
  const code = (err as { code?: string }).code;
  const make = code ? MULTIPART_ERRORS[code] : undefined;
  return make ? make(maxBytes) : err;
}

export const evidenceRoutes =
  (snapshots: SnapshotService, maxBytes: number): FastifyPluginAsync =>
  async (app) => {
    const max = maxBytes;
    // Scoped to this plugin: multipart is accepted on the upload route only.
    await app.register(multipart, {
      preservePath: true, // so a "../../x" file name reaches our check instead of being silently trimmed
      limits: { fileSize: max, files: 1, fields: 8, fieldSize: 1024, parts: 10, headerPairs: 64, fieldNameSize: 64 },
      throwFileSizeLimit: true,
    });

    app.post(
      '/upload/screenshot',
      {
        config: { role: 'camera' },
        // Bounds what fastify will read before the multipart limits apply.
        bodyLimit: max + 64 * 1024,
        schema: {
          summary: 'Upload an incident snapshot (multipart: incident_id, file)',
          description:
            'The seed\'s evidence upload. JPEG, PNG or WebP, judged by content; re-encoded as a metadata-free JPEG with a thumbnail. ' +
            'A snapshot for an incident not yet reported is held until the report arrives (snapshots.hold_s). ' +
            '415 for anything else, 413 over snapshots.max_bytes or max_pixels, 400 for a bad incident_id or a file name that is a path, ' +
            '409 when the incident already has a different snapshot.',
        },
      },
      async (request) => {
        let incidentId: unknown;
        let file: Buffer | null = null;
        try {
          for await (const part of request.parts()) {
            if (part.type === 'file') {
              if (file) throw MULTIPART_ERRORS.FST_FILES_LIMIT!(max);
              checkUploadName(part.filename);
              file = await part.toBuffer();
            } else if (part.fieldname === 'incident_id') {
              incidentId = part.value;
            }
          }
        } catch (err) {
          throw mapMultipartError(err, max);
        }
        const id = checkIncidentId(incidentId);
        if (!file) throw new GatewayError(ERRORS.INVALID_SNAPSHOT, [{ path: 'file', message: 'is required' }]);
        const outcome = await snapshots.ingest({ incidentId: id, cameraId: null, bytes: file, source: 'http' });
        return {
          // The seed's response...
          success: true,
          incident_id: outcome.incident_id,
          filename: outcome.filename,
          path: outcome.path,
          // ...and the gateway's own fields.
          status: outcome.status,
          duplicate: outcome.status === 'duplicate',
          sha256: outcome.sha256,
          bytes: outcome.bytes,
          width: outcome.width,
          height: outcome.height,
          snapshot_url: `/incidents/${encodeURIComponent(id)}/snapshot`,
          thumbnail_url: `/incidents/${encodeURIComponent(id)}/thumbnail`,
        };
      },
    );

    const serve = (kind: 'full' | 'thumb') => async (request: { params: { incident_id: string } }, reply: import('fastify').FastifyReply) => {
      const id = request.params.incident_id;
      const file = snapshots.file(id, kind);
      if (!file) {
        throw new GatewayError(ERRORS.SNAPSHOT_NOT_FOUND, [
          { path: 'incident_id', message: snapshots.isHeld(id) ? `the snapshot of "${id}" is held until its report arrives` : `no snapshot for "${id}"` },
        ]);
      }
      let size: number;
      try {
        size = (await stat(file)).size;
      } catch {
        throw new GatewayError(ERRORS.SNAPSHOT_NOT_FOUND, [{ path: 'incident_id', message: 'the snapshot file is gone (retention)' }]);
      }
      const row = snapshots.get(id)!;
      return reply
        .header('content-type', 'image/jpeg')
        .header('content-length', size)
        .header('cache-control', 'private, max-age=3600')
        .header('x-content-type-options', 'nosniff')
        .header('x-snapshot-sha256', row.sha256)
        .send(createReadStream(file));
    };
    const params = Type.Object({ incident_id: Type.String({ maxLength: 128 }) });
    app.get<{ Params: { incident_id: string } }>(
      '/incidents/:incident_id/snapshot',
      { config: { role: 'operator' }, schema: { summary: 'The incident\'s snapshot (JPEG, metadata stripped)', params } },
      serve('full'),
    );
    app.get<{ Params: { incident_id: string } }>(
      '/incidents/:incident_id/thumbnail',
      { config: { role: 'operator' }, schema: { summary: 'The incident\'s snapshot thumbnail (JPEG)', params } },
      serve('thumb'),
    );
  };
