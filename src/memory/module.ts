// Memory on a small board (config `memory`): mqtt-packet's number cache off, and the gateway
// thread's idle collector (idle-collector.ts). The Node-RED thread runs its own collector and
// its young-generation cap (src/automation/node-red-thread.ts). First in the start order so
// the cache is off before the broker writes its first packet.
import v8 from 'node:v8';
import type { Module, ModuleContext } from '../module.js';
import { idleCollectorFor } from './idle-collector.js';
import { disableMqttNumberCache, GATEWAY_MQTT_LIBRARIES } from './mqtt-cache.js';

const MB = 1024 * 1024;

export function create(ctx: ModuleContext): Module {
  const config = ctx.config.memory;
  const collector = idleCollectorFor(config, ctx.logger('memory').child({ thread: 'gateway' }));
  return {
    name: 'memory',
    async start() {
      // Process-wide for this thread's mqtt-packet: not undone by stop().
      if (!config.mqtt_number_cache) disableMqttNumberCache(GATEWAY_MQTT_LIBRARIES);
      collector?.start();
    },
    // Once every module (the Node-RED thread included) has started: start-up's garbage, collected now.
    started() {
      collector?.settle();
    },
    async stop() {
      collector?.stop();
    },
    health: () => ({
      memory: {
        status: 'up',
        rss_mb: Math.round(process.memoryUsage.rss() / MB),
        gateway_heap_mb: Math.round(v8.getHeapStatistics().total_physical_size / MB),
        idle_collections: collector?.stats.collections ?? 0,
        last_idle_collection: collector?.stats.last ?? null,
      },
    }),
  };
}
