'use strict';
// The arming mode in a flow: an input sets it (msg.payload: a mode name, or {mode}), and every
// change of mode (from any source: HTTP, MQTT, the schedule, this node) comes out, audited.
const { requireBridge } = require('./common.js');

module.exports = function (RED) {
  function SafeSphereArmingNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const bridge = requireBridge(RED, node);
    if (!bridge) return;
    if (!bridge.arming) {
      node.status({ fill: 'red', shape: 'ring', text: 'arming is not available' });
      return;
    }
    const arming = bridge.arming;
    const show = (mode) => node.status({ fill: mode === 'disarmed' ? 'grey' : 'green', shape: 'dot', text: mode });
    show(arming.mode());
    const off = arming.onChange((change) => {
      show(change.mode);
      node.send({ topic: 'safesphere/gateway/arming', payload: change });
    });
    node.on('input', (msg, send, done) => {
      const p = msg.payload;
      const mode = p && typeof p === 'object' ? p.mode : typeof p === 'string' ? p.trim() : p;
      arming.set(mode, `node-red:${config.name || node.id}`).then(
        () => done(),
        (err) => {
          node.status({ fill: 'red', shape: 'ring', text: err.message });
          done(err);
        },
      );
    });
    node.on('close', (done) => {
      off();
      done();
    });
  }
  RED.nodes.registerType('safesphere arming', SafeSphereArmingNode);
};
