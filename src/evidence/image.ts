// Snapshot decoding with sharp: the bytes a camera sent are never stored as they came.
// Only a decodable JPEG, PNG or WebP within the byte and pixel limits gets through; it is
// auto-oriented from its EXIF orientation, then re-encoded as a plain sRGB JPEG with NO
// metadata (EXIF, GPS, XMP, IPTC and ICC profiles are all dropped; a non-sRGB profile is
// applied to the pixels first, so colours survive), plus a thumbnail.
//
// sharp runs on libuv's threadpool (its own threads), so none of this blocks the event
// loop; the caller bounds how many run at once.
import { createHash } from 'node:crypto';
import type { Metadata, OutputInfo } from 'sharp';
import { loadSharp } from './sharp.js';
import { ERRORS, GatewayError } from '../errors.js';

import type { ImageFormat } from '../store/snapshots.js';

export type { ImageFormat };

export interface ImageLimits {
  maxBytes: number;
  maxPixels: number;
  jpegQuality: number;
  thumbnailPx: number;
}

export interface ProcessedImage {
  /** SHA-256 (hex) of the original bytes, as received. */
  sha256: string;
  format: ImageFormat;
  originalBytes: number;
  /** The stored JPEG, auto-oriented, metadata-free. */
  jpeg: Buffer;
  jpegSha256: string;
  width: number;
  height: number;
  thumbnail: Buffer;
}

/** The container format from the magic bytes; the upload's name and content type are never trusted. */
export function sniffFormat(bytes: Buffer): ImageFormat | null {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'png';
  if (bytes.length >= 12 && bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  return null;
}

const unsupported = (message: string) => new GatewayError(ERRORS.UNSUPPORTED_IMAGE, [{ path: 'file', message }]);
const tooLarge = (message: string) => new GatewayError(ERRORS.IMAGE_TOO_LARGE, [{ path: 'file', message }]);
/** The same 413 for HTTP (where the upload is cut off at the limit) and MQTT. */
export const tooManyBytes = (maxBytes: number) => tooLarge(`is larger than the limit of ${maxBytes} bytes (snapshots.max_bytes)`);

export async function processImage(bytes: Buffer, limits: ImageLimits): Promise<ProcessedImage> {
  if (bytes.length === 0) throw unsupported('is empty');
  if (bytes.length > limits.maxBytes) throw tooManyBytes(limits.maxBytes);
  const format = sniffFormat(bytes);
  if (!format) throw unsupported('is not a JPEG, PNG or WebP image (judged by its content, not its name)');

  // Header only: a decompression bomb is refused before a single pixel is decoded.
  const sharp = await loadSharp();
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw unsupported(`cannot be read: ${(err as Error).message}`);
  }
  if (meta.format !== format) throw unsupported(`claims to be ${format} but decodes as ${meta.format ?? 'nothing'}`);
  if (!meta.width || !meta.height) throw unsupported('has no dimensions');
  if ((meta.pages ?? 1) > 1) throw unsupported('is animated or multi-page; send a single frame');
  const pixels = meta.width * meta.height;
  if (pixels > limits.maxPixels) {
    throw tooLarge(`is ${meta.width}x${meta.height} (${pixels} pixels); the limit is ${limits.maxPixels}`);
  }

  // failOn 'error': a truncated or corrupt image is refused rather than stored half grey.
  // limitInputPixels again, as the decoder's own guard.
  const base = sharp(bytes, { limitInputPixels: limits.maxPixels, failOn: 'error', sequentialRead: true })
    .rotate() // auto-orient from EXIF, then the orientation tag is gone with the rest
    .toColourspace('srgb');
  let full: { data: Buffer; info: OutputInfo };
  let thumbnail: Buffer;
  try {
    [full, thumbnail] = await Promise.all([
      base.clone().jpeg({ quality: limits.jpegQuality, mozjpeg: false }).toBuffer({ resolveWithObject: true }),
      base
        .clone()
        .resize(limits.thumbnailPx, limits.thumbnailPx, { fit: 'inside', withoutEnlargement: true })
        .jpeg({ quality: 75 })
        .toBuffer(),
    ]);
  } catch (err) {
    const message = (err as Error).message;
    if (/pixel limit/i.test(message)) throw tooLarge(message);
    throw unsupported(`cannot be decoded: ${message}`);
  }
  return {
    sha256: createHash('sha256').update(bytes).digest('hex'),
    format,
    originalBytes: bytes.length,
    jpeg: full.data,
    jpegSha256: createHash('sha256').update(full.data).digest('hex'),
    width: full.info.width,
    height: full.info.height,
    thumbnail,
  };
}
