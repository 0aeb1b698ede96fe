// The encrypted DC-09 variants: AES-128/192/256 in CBC mode with an all-zero IV, no PKCS
// padding. The cleartext, from the data block's first character to the end of the timestamp,
// is preceded by pad characters and a "|" so its length is a multiple of 16; the pad is
// pseudo-random and never "|", "[" or "]" (a receiver finds the text after the first "|").
import { createCipheriv, createDecipheriv, randomInt } from 'node:crypto';

const ZERO_IV = Buffer.alloc(16);
const PAD_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

const cipherName = (key: Buffer): string => {
  if (![16, 24, 32].includes(key.length)) throw new Error(`an AES key is 16, 24 or 32 bytes, not ${key.length}`);
  return `aes-${key.length * 8}-cbc`;
};

/** The key's bytes from its configured form (hex digits, or ASCII characters). */
export const keyBytes = (key: string, format: 'hex' | 'ascii'): Buffer => (format === 'hex' ? Buffer.from(key, 'hex') : Buffer.from(key, 'latin1'));

/** Pad, "|", the text; encrypted; upper-case hex. */
export function encryptBlock(key: Buffer, text: string, pad?: string): string {
  const padLen = 16 - ((text.length + 1) % 16);
  const padding = pad ?? Array.from({ length: padLen }, () => PAD_CHARS[randomInt(PAD_CHARS.length)]).join('');
  if (padding.length !== padLen) throw new Error(`the pad must be ${padLen} characters`);
  const cipher = createCipheriv(cipherName(key), key, ZERO_IV);
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(Buffer.from(`${padding}|${text}`, 'latin1')), cipher.final()]).toString('hex').toUpperCase();
}

/** The cleartext after the pad and its "|"; throws when the hex or the key does not fit. */
export function decryptBlock(key: Buffer, hex: string): string {
  const clean = hex.replace(/\]$/, '');
  if (!/^(?:[0-9A-Fa-f]{32})+$/.test(clean)) throw new Error('encrypted block is not whole 16-byte blocks of hex');
  const decipher = createDecipheriv(cipherName(key), key, ZERO_IV);
  decipher.setAutoPadding(false);
  const text = Buffer.concat([decipher.update(Buffer.from(clean, 'hex')), decipher.final()]).toString('latin1');
  const bar = text.indexOf('|');
  if (bar < 0) throw new Error('decrypted block has no "|" after its pad (wrong key?)');
  return text.slice(bar + 1);
}
