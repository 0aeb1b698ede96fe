// sharp (libvips) costs ~20 MB resident once loaded; load it with the first image rather
// than at start, so a gateway that never receives a snapshot never pays for it.
import type Sharp from 'sharp';

export type SharpFactory = typeof Sharp;

/** Node caches the module, so every call after the first resolves at once. */
export async function loadSharp(): Promise<SharpFactory> {
  return (await import('sharp')).default;
}
