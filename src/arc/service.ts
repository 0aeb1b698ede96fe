// The station's own events, beside the incidents notify's queue carries: what an installer's
// flow sends (a door contact, a panic button) through the `safesphere arc` node. These are sent
// at once and answered with the receiver's ACK (or why not); they are not queued across restarts:
// the flow sees the outcome and decides.
import type { GatewayConfig } from '../config/schema.js';
import { dataBlock, siaRestore } from './codes.js';
import { clean } from './frame.js';
import type { ArcTransmitter, TransmitOutcome } from './transmitter.js';

export interface FlowEvent {
  /** SIA two-letter code (SIA-DCS) ... */
  sia?: string;
  /** ... or Contact ID event code (ADM-CID); the configured format decides which is used. */
  cid?: number;
  zone?: number;
  partition?: number;
  restore?: boolean;
  text?: string;
  /** Another account on the same receiver (a second building). */
  account?: string;
}

export class ArcService {
  constructor(
    private readonly config: GatewayConfig,
    readonly transmitter: ArcTransmitter,
    private readonly nextSeq: () => number,
  ) {}

  /** Why a flow event cannot be sent as given, or null. */
  problem(e: FlowEvent): string | null {
    const f = this.config.arc.format;
    if (f === 'SIA-DCS' && !(typeof e.sia === 'string' && /^[A-Z]{2}$/.test(e.sia))) return 'sia: a two-letter SIA code (arc.format is SIA-DCS)';
    if (f === 'ADM-CID' && !(Number.isInteger(e.cid) && e.cid! >= 100 && e.cid! <= 999)) return 'cid: a Contact ID event code 100-999 (arc.format is ADM-CID)';
    if (e.zone !== undefined && !(Number.isInteger(e.zone) && e.zone >= 0 && e.zone <= 999)) return 'zone: 0-999';
    if (e.partition !== undefined && !(Number.isInteger(e.partition) && e.partition >= 0 && e.partition <= 99)) return 'partition: 0-99';
    if (e.account !== undefined && !/^[0-9A-Fa-f]{3,16}$/.test(e.account)) return 'account: 3 to 16 hex digits';
    return null;
  }

  /** What a Node-RED config node shows of the receiver (no key). */
  describe(): Record<string, unknown> {
    const a = this.config.arc;
    return { format: a.format, transport: a.transport, account: a.account, primary: `${a.primary.host}:${a.primary.port}`, backup: a.backup.host ? `${a.backup.host}:${a.backup.port}` : null, encrypted: this.transmitter.health().encrypted };
  }

  async sendFlowEvent(e: FlowEvent): Promise<TransmitOutcome> {
    const problem = this.problem(e);
    if (problem) return { ok: false, reason: problem, transient: false, tries: 0 };
    const arc = this.config.arc;
    const restore = e.restore === true;
    const sia = e.sia ?? 'UA';
    const data = dataBlock(arc.format, e.account ?? arc.account, {
      sia: restore && arc.format === 'SIA-DCS' && sia[1] === 'A' ? siaRestore(sia) : sia,
      cid: e.cid ?? 150,
      restore,
      zone: e.zone ?? arc.default_zone,
      partition: e.partition ?? arc.partition,
    });
    const extended = arc.extended_data && e.text ? [`I${clean(`site ${this.config.site_id}: ${e.text}`, 160)}`] : [];
    return this.transmitter.send({ kind: 'event', id: arc.format, data, extended }, this.nextSeq());
  }
}
