// Raw clients for what mqtt.js and fetch will not send: an MQTT CONNECT with any client id and
// flags (an empty id with clean session 0, control characters), and HTTP from a chosen local
// loopback address (127.0.0.2 is another client to the gateway, on the same machine).
import { request } from 'node:http';
import { connect as tcpConnect } from 'node:net';

const str = (s: string | Buffer) => {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
};
const varint = (n: number): Buffer => {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
};

export interface RawConnect {
  clientId: string;
  clean?: boolean;
  username?: string;
  password?: string;
  localAddress?: string;
}

/** Sends one MQTT 3.1.1 CONNECT and resolves with the CONNACK return code (null: closed without one). */
export function connackCode(port: number, c: RawConnect, timeoutMs = 15_000): Promise<number | null> {
  let flags = c.clean === false ? 0 : 0x02;
  const parts = [str(c.clientId)];
  if (c.username !== undefined) {
    flags |= 0x80;
    parts.push(str(c.username));
  }
  if (c.password !== undefined) {
    flags |= 0x40;
    parts.push(str(c.password));
  }
  const body = Buffer.concat([str('MQTT'), Buffer.from([4, flags, 0, 60]), ...parts]);
  const packet = Buffer.concat([Buffer.from([0x10]), varint(body.length), body]);
  return new Promise((resolve) => {
    const socket = tcpConnect({ port, host: '127.0.0.1', ...(c.localAddress ? { localAddress: c.localAddress } : {}) });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => finish(null), timeoutMs);
    const finish = (code: number | null) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(code);
    };
    socket.on('connect', () => socket.write(packet));
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= 4 && buf[0] === 0x20) finish(buf[3]!);
    });
    socket.on('error', () => finish(null));
    socket.on('close', () => finish(null));
  });
}

/** An HTTP request from `localAddress`; the body is sent as given (a string keeps duplicate keys). */
export function httpFrom(
  url: string,
  options: { method?: string; body?: string; headers?: Record<string, string>; localAddress?: string },
): Promise<{ status: number; body: any; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? (options.body !== undefined ? 'POST' : 'GET'),
        headers: { ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers },
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : null;
          } catch {
            // not JSON: kept as text
          }
          resolve({ status: res.statusCode ?? 0, body, headers: res.headers });
        });
      },
    );
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}
