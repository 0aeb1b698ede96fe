// The monitoring station as a notify channel: notify's durable queue (retries, the ledger,
// restarts) carries the ARC's deliveries like any other, and the channel turns each into a DC-09
// event. A delivery's sequence number is the one its first attempt took (src/store/arc.ts), so a
// retransmission, also after a restart, keeps it. Delivered means the receiver's ACK: the
// receipt says which path took it, when, and with which sequence number.
import type { GatewayConfig } from '../config/schema.js';
import type { Channel, Delivery, SendOutcome } from '../notify/channel.js';
import { STATION_RESTORE_STEP } from '../store/notify.js';
import { dataBlock, incidentEvent } from './codes.js';
import type { ArcTransmitter } from './transmitter.js';

export const ARC_KIND = 'arc';

export class ArcChannel implements Channel {
  readonly kind = ARC_KIND;

  constructor(
    private readonly config: GatewayConfig,
    private readonly transmitter: ArcTransmitter,
    private readonly seqFor: (deliveryId: number) => number,
  ) {}

  unusable(): string | null {
    return this.config.arc.primary.host ? null : 'arc.primary.host is not set';
  }

  carries(): readonly string[] {
    return this.config.arc.action_types;
  }

  async send(delivery: Delivery, signal: AbortSignal): Promise<SendOutcome> {
    const arc = this.config.arc;
    const restore = delivery.step === STATION_RESTORE_STEP;
    const event = incidentEvent(arc, this.config.site_id, delivery.message, restore);
    const seq = this.seqFor(delivery.id);
    const r = await this.transmitter.send({ kind: 'event', id: arc.format, data: dataBlock(arc.format, arc.account, event), extended: event.extended }, seq, signal);
    if (!r.ok) return { ok: false, reason: r.reason, transient: r.transient };
    const code = arc.format === 'SIA-DCS' ? event.sia : `${event.restore ? 3 : 1}${event.cid}`;
    return {
      ok: true,
      receipt: {
        summary: `ACK from the ${r.path} receiver ${r.host} at ${r.at} (${arc.format} ${code} zone ${event.zone}, seq ${String(seq).padStart(4, '0')})`,
        data: { path: r.path, receiver: r.host, acknowledged_at: r.at, seq, tries: r.tries, rtt_ms: r.rtt_ms, format: arc.format, code, zone: event.zone, class: event.cls, restore },
      },
    };
  }

  health(): Record<string, unknown> {
    return { address: `${this.config.arc.account}@${this.config.arc.primary.host}:${this.config.arc.primary.port}` };
  }
}
