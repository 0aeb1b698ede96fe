// Fixtures for the evidence and AI tests, all generated at test time: images made with
// sharp, a multipart upload helper, and a local HTTP server that speaks the Gemini
// generateContent REST shape (reached through @google/genai's httpOptions.baseUrl).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';

/** A JPEG with EXIF (owner, camera make), GPS coordinates and orientation 6 (rotate 90° to view). */
export async function jpegWithGps(width = 64, height = 32): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 200, g: 30, b: 30 } } })
    .jpeg()
    .withExif({
      IFD0: { Copyright: 'SECRET-OWNER-NAME', Make: 'CamCo', Model: 'X1' },
      IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 2667/100', GPSLongitudeRef: 'W', GPSLongitude: '0/1 7/1 3957/100' },
    })
    .withMetadata({ orientation: 6 })
    .toBuffer();
}

export async function solidImage(format: 'jpeg' | 'png' | 'webp', width: number, height: number, rgb = { r: 20, g: 120, b: 220 }): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: rgb } })[format]().toBuffer();
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/**
 * A decompression bomb: a valid PNG header announcing `size`×`size` grey pixels, followed
 * by a few rows of deflated zeros. A few hundred bytes that would decode to gigabytes.
 */
export function pngBomb(size = 60000): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  const rows = deflateSync(Buffer.alloc((size + 1) * 4));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr), pngChunk('IDAT', rows), pngChunk('IEND', Buffer.alloc(0))]);
}

export async function uploadSnapshot(
  baseUrl: string,
  incidentId: string,
  bytes: Buffer,
  filename = 'screenshot.jpg',
  contentType = 'image/jpeg',
): Promise<{ status: number; body: any }> {
  const form = new FormData();
  form.append('incident_id', incidentId);
  form.append('file', new Blob([new Uint8Array(bytes)], { type: contentType }), filename);
  const res = await fetch(`${baseUrl}/upload/screenshot`, { method: 'POST', body: form });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** A raw multipart body, for file names a FormData would not let through unchanged. */
export async function uploadRaw(baseUrl: string, incidentId: string, bytes: Buffer, filename: string): Promise<{ status: number; body: any }> {
  const boundary = '----evidence-test-boundary';
  const body = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\ncontent-disposition: form-data; name="incident_id"\r\n\r\n${incidentId}\r\n` +
        `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${filename}"\r\ncontent-type: image/jpeg\r\n\r\n`,
    ),
    bytes,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const res = await fetch(`${baseUrl}/upload/screenshot`, {
    method: 'POST',
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    body,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

export interface GeminiCall {
  at: number;
  path: string;
  apiKey: string | undefined;
  body: any;
  /** Text of every part of the request, joined. */
  text: string;
  hasImage: boolean;
}

/** What the fake answers next: a JSON answer, a status, a hang (timeout) or a dropped connection. */
export type FakeBehaviour =
  | { kind: 'json'; value: unknown }
  | { kind: 'text'; value: string }
  | { kind: 'status'; status: number }
  | { kind: 'hang' }
  | { kind: 'drop' };

export interface FakeGemini {
  url: string;
  calls: GeminiCall[];
  /** Answers queued for the next requests, first in first out; then `fallback`. */
  queue: FakeBehaviour[];
  fallback: FakeBehaviour | ((call: GeminiCall) => FakeBehaviour);
  /** Called synchronously when a request arrives, before it is answered. */
  onRequest: ((call: GeminiCall) => void) | null;
  /** Answers (JSON, text or status) are sent this long after the request arrived. */
  latencyMs: number;
  close(): Promise<void>;
}

export async function startFakeGemini(): Promise<FakeGemini> {
  const hanging = new Set<ServerResponse>();
  const fake: FakeGemini = {
    url: '',
    calls: [],
    queue: [],
    fallback: { kind: 'json', value: { summary: 'ok', threat_confirmed: true, confidence: 0.9, potential_threat_level: 'HIGH', recommended_actions: [] } },
    onRequest: null,
    latencyMs: 0,
    close: async () => {
      for (const r of hanging) r.socket?.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString() || '{}');
      const parts = [
        ...(body.systemInstruction?.parts ?? []),
        ...(body.contents ?? []).flatMap((c: { parts?: unknown[] }) => c.parts ?? []),
      ] as { text?: string; inlineData?: unknown }[];
      const call: GeminiCall = {
        at: Date.now(),
        path: req.url ?? '',
        apiKey: req.headers['x-goog-api-key'] as string | undefined,
        body,
        text: parts.map((p) => p.text ?? '').join('\n'),
        hasImage: parts.some((p) => p.inlineData !== undefined),
      };
      fake.calls.push(call);
      fake.onRequest?.(call);
      const b = fake.queue.shift() ?? (typeof fake.fallback === 'function' ? fake.fallback(call) : fake.fallback);
      if (b.kind === 'hang') {
        hanging.add(res);
        return;
      }
      if (b.kind === 'drop') {
        req.socket.destroy();
        return;
      }
      const answer = () => respond(res, b);
      if (fake.latencyMs > 0) setTimeout(answer, fake.latencyMs);
      else answer();
    });
  });
  function respond(res: ServerResponse, b: FakeBehaviour): void {
    if (b.kind === 'hang' || b.kind === 'drop') return;
    if (b.kind === 'status') {
      res.writeHead(b.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: b.status, message: `fake status ${b.status}`, status: b.status === 429 ? 'RESOURCE_EXHAUSTED' : 'UNAVAILABLE' } }));
      return;
    }
    const text = b.kind === 'json' ? JSON.stringify(b.value) : b.value;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        candidates: [{ content: { role: 'model', parts: [{ text }] }, finishReason: 'STOP', index: 0 }],
        usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 10, totalTokenCount: 20 },
        modelVersion: 'gemini-test',
      }),
    );
  }
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}
