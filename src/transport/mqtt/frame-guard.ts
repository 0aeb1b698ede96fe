// Bounds the size of MQTT packets before aedes buffers them. mqtt-packet would otherwise
// accumulate a packet of up to 256 MB in memory before anything could look at it.
//
// The guard watches the bytes aedes reads (a 'data' listener on a socket that aedes drives
// with 'readable'/read() only fires as aedes reads), follows the fixed headers, and destroys
// the connection as soon as one announces a remaining length over the limit.
import type { Socket } from 'node:net';

export function guardFrameSize(socket: Socket, maxPacketBytes: number, onOversize: (announced: number) => void): void {
  let state: 'header' | 'length' | 'body' = 'header';
  let length = 0;
  let multiplier = 1;
  let remaining = 0;

  socket.on('data', (chunk: Buffer) => {
    let i = 0;
    while (i < chunk.length) {
      if (state === 'body') {
        const skip = Math.min(remaining, chunk.length - i);
        remaining -= skip;
        i += skip;
        if (remaining === 0) state = 'header';
        continue;
      }
      const byte = chunk[i++]!;
      if (state === 'header') {
        state = 'length';
        length = 0;
        multiplier = 1;
        continue;
      }
      length += (byte & 0x7f) * multiplier;
      multiplier *= 128;
      if (byte & 0x80) {
        if (multiplier > 128 ** 4) return socket.destroy(); // malformed: aedes would refuse it too
        continue;
      }
      if (length > maxPacketBytes) {
        onOversize(length);
        socket.destroy();
        return;
      }
      remaining = length;
      state = remaining === 0 ? 'header' : 'body';
    }
  });
}
