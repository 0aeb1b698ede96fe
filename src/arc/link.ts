// One path to a receiver: one message out, one answer back, within a timeout. TCP opens a
// connection per message (the receiver may close it after its answer) and reads up to the
// answer's CR; UDP sends one datagram and takes the first datagram back. Whatever the receiver
// does (refuses, sends garbage, holds the socket open and says nothing) ends in an answer or a
// rejection within `timeoutMs`: never a hang.
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';

export interface PathAddress {
  name: 'primary' | 'backup';
  host: string;
  port: number;
}

/** Longest answer taken: a receiver that streams more is not a DC-09 receiver. */
const MAX_ANSWER = 4096;

/**
 * The one way an exchange ends: the first answer, error, timeout or abort settles it, clears
 * the timer and the abort listener, and closes the socket. `close` is called once.
 */
function settleOnce(
  resolve: (answer: Buffer) => void,
  reject: (err: Error) => void,
  close: () => void,
  messages: { timeoutMs: number; timeout: string; aborted: string },
  signal?: AbortSignal,
): { finish: (err: Error | null, answer?: Buffer) => void; aborted: boolean } {
  let done = false;
  const finish = (err: Error | null, answer?: Buffer) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    close();
    if (err) reject(err);
    else resolve(answer!);
  };
  const timer = setTimeout(() => finish(new Error(messages.timeout)), messages.timeoutMs);
  const onAbort = () => finish(new Error(messages.aborted));
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  // `done` is already true here when the signal had aborted before the exchange began.
  return { finish, aborted: done };
}

export function exchange(transport: 'tcp' | 'udp', to: PathAddress, message: Buffer, timeoutMs: number, signal?: AbortSignal): Promise<Buffer> {
  return transport === 'tcp' ? exchangeTcp(to, message, timeoutMs, signal) : exchangeUdp(to, message, timeoutMs, signal);
}

function exchangeTcp(to: PathAddress, message: Buffer, timeoutMs: number, signal?: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let socket: Socket | null = null;
    let got = Buffer.alloc(0);
    const { finish, aborted } = settleOnce(resolve, reject, () => socket?.destroy(), {
      timeoutMs,
      timeout: `${to.name} ${to.host}:${to.port}: no answer within ${timeoutMs} ms`,
      aborted: `${to.name}: aborted`,
    }, signal);
    if (aborted) return;
    socket = connect({ host: to.host, port: to.port });
    socket.setNoDelay(true);
    socket.on('connect', () => socket!.write(message));
    socket.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      const lf = got.indexOf(0x0a);
      const cr = lf < 0 ? -1 : got.indexOf(0x0d, lf + 1);
      if (cr >= 0) finish(null, got.subarray(lf, cr + 1));
      else if (got.length > MAX_ANSWER) finish(new Error(`${to.name}: ${got.length} bytes and no complete answer`));
    });
    socket.on('error', (err) => finish(new Error(`${to.name} ${to.host}:${to.port}: ${(err as NodeJS.ErrnoException).code ?? err.message}`)));
    socket.on('close', () => finish(new Error(`${to.name} ${to.host}:${to.port}: closed the connection without a complete answer${got.length ? ` (${got.length} bytes)` : ''}`)));
  });
}

function exchangeUdp(to: PathAddress, message: Buffer, timeoutMs: number, signal?: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(to.host.includes(':') ? 'udp6' : 'udp4');
    const { finish, aborted } = settleOnce(resolve, reject, () => socket.close(), {
      timeoutMs,
      timeout: `${to.name} ${to.host}:${to.port} (udp): no answer within ${timeoutMs} ms`,
      aborted: `${to.name}: aborted`,
    }, signal);
    if (aborted) return;
    socket.on('message', (answer) => finish(null, answer));
    socket.on('error', (err) => finish(new Error(`${to.name} ${to.host}:${to.port} (udp): ${(err as NodeJS.ErrnoException).code ?? err.message}`)));
    socket.send(message, to.port, to.host, (err) => {
      if (err) finish(new Error(`${to.name} ${to.host}:${to.port} (udp): ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    });
  });
}
