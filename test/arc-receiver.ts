// Receivers for the monitoring-station tests. `startSiaReceiver` runs the receiver class of the
// npm package iobroker.sia (node_modules/iobroker.sia/build/lib/sia.js, an implementation we did
// not write: it parses the frame, checks CRC, length and timestamp, decrypts, and answers ACK or
// NAK) in-process, bound by itself on loopback port 0. `startScripted` is a TCP server that
// answers as told (garbage, silence, DUH) for the faults iobroker.sia never produces.
import { createRequire } from 'node:module';
import { createServer, type Socket } from 'node:net';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { sia: SiaReceiver } = require('iobroker.sia/build/lib/sia.js') as { sia: new (p: Record<string, unknown>) => any };

export interface Received {
  id: string;
  seq: string;
  act: string;
  rpref: string;
  lpref: string;
  data_message: string;
  data_extended: string;
  ts: string;
  /** performance.now() when the receiver had written its ACK. */
  at?: number;
}

export interface SiaReceiverHandle {
  port: number;
  received: Received[];
  errors: string[];
  close(): Promise<void>;
}

/** iobroker.sia's receiver on 127.0.0.1:0 for one account; `key` (hex) makes it take only encrypted messages. */
export async function startSiaReceiver(options: { account: string; key?: string; transport?: 'tcp' | 'udp'; timeoutS?: number; port?: number }): Promise<SiaReceiverHandle> {
  const quiet = () => {};
  const r = new SiaReceiver({ host: '127.0.0.1', port: options.port ?? 0, timeout: options.timeoutS ?? 20, sockend: true, logger: { info: quiet, debug: quiet, error: quiet } });
  r.setAccounts([{ accountnumber: options.account, aes: Boolean(options.key), hex: true, password: options.key ?? '' }]);
  const received: Received[] = [];
  const errors: string[] = [];
  r.on('sia', (m: Received | undefined, err: string | undefined) => {
    if (m) received.push({ id: m.id, seq: m.seq, act: m.act, rpref: m.rpref, lpref: m.lpref, data_message: m.data_message, data_extended: m.data_extended, ts: m.ts, at: performance.now() });
    else errors.push(String(err));
  });
  r.on('error', (e: string) => errors.push(String(e)));
  let port: number;
  if ((options.transport ?? 'tcp') === 'tcp') {
    r.serverStartTCP();
    await new Promise<void>((resolve) => (r.servertcp.listening ? resolve() : r.servertcp.once('listening', () => resolve())));
    port = r.servertcp.address().port;
  } else {
    r.serverStartUDP();
    await new Promise<void>((resolve) => r.serverudp.once('listening', () => resolve()));
    port = r.serverudp.address().port;
  }
  return {
    port,
    received,
    errors,
    close: () =>
      new Promise<void>((resolve) => {
        if ((options.transport ?? 'tcp') === 'tcp') r.servertcp.close(() => resolve());
        else r.serverudp.close(() => resolve());
      }),
  };
}

/** A TCP "receiver" that answers every connection with `answer(frame)` (null: says nothing, holds the socket). */
export async function startScripted(answer: (frame: Buffer) => Buffer | null): Promise<{ port: number; frames: Buffer[]; close(): Promise<void> }> {
  const frames: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.on('data', (d) => {
      frames.push(d);
      const a = answer(d);
      if (a) s.write(a);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    frames,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on (bound, then closed). */
export async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * iobroker.sia's parser and ACK/NAK builder behind our own TCP server, so a test can hold a
 * message unanswered (the gateway mid-send) and then let the same implementation answer.
 */
export async function startHeldSia(options: { account: string; key?: string }): Promise<{ port: number; held: Buffer[]; acked: Received[]; hold: boolean; close(): Promise<void> }> {
  const quiet = () => {};
  const r = new SiaReceiver({ host: '127.0.0.1', port: 0, timeout: 60, logger: { info: quiet, debug: quiet, error: quiet } });
  r.setAccounts([{ accountnumber: options.account, aes: Boolean(options.key), hex: true, password: options.key ?? '' }]);
  const state = { hold: true, held: [] as Buffer[], acked: [] as Received[] };
  const scripted = await startScripted((data) => {
    if (state.hold) {
      state.held.push(data);
      return null;
    }
    try {
      const m = r.parseSIA(data);
      const ack = r.createACK(m) as Buffer;
      state.acked.push({ id: m.id, seq: m.seq, act: m.act, rpref: m.rpref, lpref: m.lpref, data_message: m.data_message, data_extended: m.data_extended, ts: m.ts });
      return ack;
    } catch {
      return r.createNACK(data) as Buffer;
    }
  });
  return {
    port: scripted.port,
    held: state.held,
    acked: state.acked,
    get hold() {
      return state.hold;
    },
    set hold(v: boolean) {
      state.hold = v;
    },
    close: () => scripted.close(),
  };
}
