'use strict';
// An installer's own events to the monitoring station (a door contact, a panic button): the
// `safesphere arc receiver` config node names the gateway's configured receiver (its address,
// key and paths stay in the gateway config, never in the flow) and optionally another account on
// it; the `safesphere arc` node sends one DC-09 event per message and outputs the receiver's ACK
// (path, time, sequence number), or the reason it was not acknowledged on its second output.
const { requireBridge } = require('./common.js');

module.exports = function (RED) {
  function SafeSphereArcReceiverNode(config) {
    RED.nodes.createNode(this, config);
    this.account = (config.account || '').trim();
    this.label = config.name;
  }
  RED.nodes.registerType('safesphere arc receiver', SafeSphereArcReceiverNode);

  function SafeSphereArcNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const bridge = requireBridge(RED, node);
    if (!bridge) return;
    const receiver = config.receiver ? RED.nodes.getNode(config.receiver) : null;
    if (!bridge.arc) node.status({ fill: 'red', shape: 'ring', text: 'no monitoring station (arc.primary.host)' });
    node.on('input', (msg, send, done) => {
      if (!bridge.arc) {
        done(new Error('the gateway has no monitoring station configured (arc.primary.host)'));
        return;
      }
      const p = msg.payload && typeof msg.payload === 'object' ? msg.payload : {};
      const num = (v) => (v === undefined || v === null || v === '' ? undefined : Number(v));
      const event = {
        sia: p.sia || config.sia || undefined,
        cid: num(p.cid !== undefined ? p.cid : config.cid),
        zone: num(p.zone !== undefined ? p.zone : config.zone),
        restore: p.restore === true || (p.restore === undefined && config.restore === true),
        text: typeof p.text === 'string' ? p.text : config.text || undefined,
        account: (receiver && receiver.account) || undefined,
      };
      node.status({ fill: 'blue', shape: 'dot', text: 'sending' });
      bridge.arc.send(event).then(
        (r) => {
          msg.arc = r;
          if (r.ok) {
            node.status({ fill: 'green', shape: 'dot', text: `ACK ${r.path} seq ${r.seq}` });
            send([msg, null]);
          } else {
            node.status({ fill: 'red', shape: 'ring', text: String(r.reason).slice(0, 60) });
            send([null, msg]);
          }
          done();
        },
        (err) => {
          node.status({ fill: 'red', shape: 'ring', text: err.message });
          done(err);
        },
      );
    });
  }
  RED.nodes.registerType('safesphere arc', SafeSphereArcNode);
};
