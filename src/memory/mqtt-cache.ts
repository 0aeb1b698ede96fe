// mqtt-packet builds a cache of 65,536 two-byte Buffers on its first write: about 6 MB of heap
// in each isolate that speaks MQTT (seen in a heap snapshot of the gateway after a burst).
// Without it a packet's numbers are written as they come, a 2-byte allocation each.
// mqtt-packet's README documents the switch (`writeToStream.cacheNumbers = false`). Resolved
// from each library that writes packets, so a nested copy is switched too.
import { createRequire } from 'node:module';

/** The MQTT libraries of each isolate, as chains of resolutions: mqtt-packet is what they load. */
export const GATEWAY_MQTT_LIBRARIES: readonly (readonly string[])[] = [['aedes'], ['mqtt']];
export const NODE_RED_MQTT_LIBRARIES: readonly (readonly string[])[] = [['@node-red/nodes/core/network/10-mqtt.js', 'mqtt']];

/** Per isolate (the gateway's thread, the Node-RED thread); memory.mqtt_number_cache false. */
export function disableMqttNumberCache(libraries: readonly (readonly string[])[]): void {
  for (const chain of libraries) {
    let from = createRequire(import.meta.url);
    for (const name of chain) from = createRequire(from.resolve(name));
    (from('mqtt-packet') as { writeToStream: { cacheNumbers: boolean } }).writeToStream.cacheNumbers = false;
  }
}
