// Minimal MQTT 3.1.1 packet encoding for flood tests: thousands of raw sockets cost far less
// than thousands of mqtt.js clients in the test process.
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
const str = (s: string) => {
  const b = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
};

export function connectPacket(clientId: string, keepaliveS = 60): Buffer {
  const body = Buffer.concat([str('MQTT'), Buffer.from([4, 0x02, keepaliveS >> 8, keepaliveS & 0xff]), str(clientId)]);
  return Buffer.concat([Buffer.from([0x10]), varint(body.length), body]);
}

export function publishPacket(topic: string, payload: Buffer, qos: 0 | 1, packetId = 1): Buffer {
  const id = qos > 0 ? Buffer.from([packetId >> 8, packetId & 0xff]) : Buffer.alloc(0);
  const body = Buffer.concat([str(topic), id, payload]);
  return Buffer.concat([Buffer.from([0x30 | (qos << 1)]), varint(body.length), body]);
}

/** Counts CONNACK (0x20) and PUBACK (0x40) packets in a byte stream. */
export class AckCounter {
  connacks = 0;
  pubacks = 0;
  private buf: Buffer = Buffer.alloc(0);
  feed(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      if (this.buf.length < 2) return;
      let len = 0;
      let mult = 1;
      let i = 1;
      for (;;) {
        if (i >= this.buf.length) return;
        const b = this.buf[i++]!;
        len += (b & 0x7f) * mult;
        mult *= 128;
        if (!(b & 0x80)) break;
      }
      if (this.buf.length < i + len) return;
      const type = this.buf[0]! >> 4;
      if (type === 2) this.connacks++;
      if (type === 4) this.pubacks++;
      this.buf = this.buf.subarray(i + len);
    }
  }
}
