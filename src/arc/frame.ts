// The SIA DC-09 frame: <LF><crc><0LLL><"id"><seq><Rrcvr><Lpref><#acct>[<data>]<x-data>_<timestamp><CR>.
// The CRC (CRC-16, polynomial 0x8005 reflected, initial 0: the standard's table) and the length
// (4 hex digits) both cover everything from the opening quote to the character before CR.
import { decryptBlock, encryptBlock } from './crypto.js';

/** CRC-16 of DC-09 (the "ARC" CRC: poly 0xA001 reflected, init 0), over the ASCII bytes. */
export function crc16(text: string | Buffer): number {
  let crc = 0;
  for (const byte of typeof text === 'string' ? Buffer.from(text, 'latin1') : text) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

const hex4 = (n: number): string => n.toString(16).toUpperCase().padStart(4, '0');

/** DC-09's timestamp, always UTC: HH:MM:SS,MM-DD-YYYY. */
export function siaTimestamp(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())},${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}-${d.getUTCFullYear()}`;
}

/** The instant a DC-09 timestamp names, or null when it is not one. */
export function parseSiaTimestamp(ts: string): number | null {
  const m = /^(\d{2}):(\d{2}):(\d{2}),(\d{2})-(\d{2})-(\d{4})$/.exec(ts);
  if (!m) return null;
  const [, hh, mi, ss, mo, dd, yyyy] = m.map(Number) as number[];
  const ms = Date.UTC(yyyy!, mo! - 1, dd!, hh!, mi!, ss!);
  return Number.isFinite(ms) ? ms : null;
}

/** Wraps a message body (quote to last character) in LF, CRC, length and CR. */
export function frame(body: string): Buffer {
  if (body.length > 0xfff) throw new Error(`DC-09 message of ${body.length} characters is too long`);
  return Buffer.from(`\n${hex4(crc16(body))}${hex4(body.length)}${body}\r`, 'latin1');
}

/** The body of one complete frame, its CRC and length checked; throws saying what is wrong. */
export function unframe(raw: Buffer): string {
  const text = raw.toString('latin1');
  const start = text.indexOf('\n');
  const end = text.indexOf('\r', start + 1);
  if (start < 0 || end < 0) throw new Error('not a DC-09 frame (no LF ... CR)');
  const m = /^([0-9A-Fa-f]{4})([0-9A-Fa-f]{4})([\s\S]*)$/.exec(text.slice(start + 1, end));
  if (!m) throw new Error('not a DC-09 frame (no CRC and length)');
  const body = m[3]!;
  if (parseInt(m[2]!, 16) !== body.length) throw new Error(`length field ${m[2]} does not match the ${body.length} characters received`);
  if (parseInt(m[1]!, 16) !== crc16(body)) throw new Error(`CRC ${m[1]} does not match the message (${hex4(crc16(body))})`);
  return body;
}

/** Where a message goes: the prefixes and account the ARC assigned. */
export interface Addressing {
  receiver: string;
  line: string;
  account: string;
}

/** What one message says: a data block (empty for a NULL link test) and extended data blocks. */
export interface MessageParts {
  /** `SIA-DCS`, `ADM-CID` or `NULL` (the encrypted variants get their `*` from the key). */
  id: 'SIA-DCS' | 'ADM-CID' | 'NULL';
  seq: number;
  data: string;
  extended: string[];
  timestampMs: number;
}

/** DC-09 sequence numbers run 0001..9999, then wrap to 0001. */
export const nextSeq = (seq: number): number => (seq >= 9999 || seq < 1 ? 1 : seq + 1);

/** The characters that frame the data and extended blocks may not occur inside them. */
export const clean = (s: string, max: number): string => s.replace(/[[\]|\r\n\x00-\x1f\x7f-\uffff]/g, ' ').trim().slice(0, max);

/** A complete frame: plain, or the encrypted variant when a key is given (timestamp inside the cipher text). */
export function buildMessage(parts: MessageParts, to: Addressing, key: Buffer | null): Buffer {
  const seq = String(parts.seq).padStart(4, '0');
  const head = `${seq}R${to.receiver}L${to.line}#${to.account}[`;
  const rest = `${parts.data}]${parts.extended.map((x) => `[${x}]`).join('')}_${siaTimestamp(parts.timestampMs)}`;
  if (!key) return frame(`"${parts.id}"${head}${rest}`);
  return frame(`"*${parts.id}"${head}${encryptBlock(key, rest)}`);
}

export type Response =
  | { kind: 'ACK'; seq: number; account: string | null; timestampMs: number | null }
  | { kind: 'NAK'; timestampMs: number | null }
  | { kind: 'DUH'; seq: number };

/** A receiver's answer (ACK, NAK or DUH; `*` when encrypted), or a thrown reason why it is not one. */
export function parseResponse(body: string, key: Buffer | null): Response {
  const m = /^"(\*?)(ACK|NAK|DUH)"(\d{4})(?:R[0-9A-Fa-f]{0,6})?(?:L[0-9A-Fa-f]{0,6})?(?:#([0-9A-Fa-f]+)|A0)?\[([\s\S]*)$/.exec(body);
  if (!m) throw new Error(`not an ACK, NAK or DUH: ${JSON.stringify(body.slice(0, 80))}`);
  const [, star, kind, seqText, account, tail] = m as unknown as [string, string, 'ACK' | 'NAK' | 'DUH', string, string | undefined, string];
  let after = tail;
  if (star) {
    if (!key) throw new Error(`an encrypted ${kind} to an unencrypted message`);
    after = decryptBlock(key, tail);
  }
  const ts = /_(\d{2}:\d{2}:\d{2},\d{2}-\d{2}-\d{4})$/.exec(after)?.[1];
  const timestampMs = ts ? parseSiaTimestamp(ts) : null;
  const seq = Number(seqText);
  if (kind === 'NAK') return { kind, timestampMs };
  if (kind === 'DUH') return { kind, seq };
  return { kind, seq, account: account ?? null, timestampMs };
}
