// The embedded MQTT broker (aedes): cameras' reports and snapshots in, incidents and rejects out.
import type { Module, ModuleContext } from '../../module.js';
import { MqttBroker } from './broker.js';

declare module '../../module.js' {
  interface Exports {
    broker: MqttBroker;
  }
}

export function create(ctx: ModuleContext): Module {
  const { config } = ctx;
  const snapshots = ctx.find('snapshots');
  const broker = new MqttBroker(
    config.mqtt,
    ctx.use('validator'),
    ctx.use('pipeline'),
    ctx.bus,
    ctx.logger('mqtt'),
    { config, tls: ctx.use('tls') },
    // Snapshots published by cameras are stored before their PUBACK, like reports.
    snapshots ? (cameraId, incidentId, payload) => snapshots.ingest({ incidentId, cameraId, bytes: payload, source: 'mqtt' }) : null,
  );
  ctx.provide('broker', broker);
  return {
    name: 'mqtt',
    start: () => broker.start(),
    stop: () => broker.stop(),
    health: () => {
      const session = broker.statusSession?.health() ?? null;
      const status = !broker.isListening ? 'down' : session && !session.connected ? 'degraded' : 'up';
      return {
        broker: {
          status,
          clients: broker.connectedClients,
          ...broker.counters,
          status_session: session,
          ...(session && session.drops > 0
            ? { warning: `the gateway's own MQTT session was closed ${session.drops} time(s), last at ${session.last_drop_at}; it reconnected and re-asserted online` }
            : {}),
          ...(broker.security ? { auth: { ...broker.security.gate.counters, ...broker.security.gate.load, refused_client_ids: broker.security.counters.refused_client_ids } } : {}),
        },
      };
    },
    banner: (at) => [
      `MQTT broker     : mqtt://${at.host(config.mqtt.host)}:${broker.port}`,
      '  cameras publish QoS 1 to safesphere/cameras/<camera_id>/threats',
      '  incidents on safesphere/incidents/<LEVEL>, rejects on safesphere/gateway/rejects/<camera_id>',
    ],
  };
}
