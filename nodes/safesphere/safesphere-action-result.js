'use strict';
const { requireBridge } = require('./common.js');

module.exports = function (RED) {
  function SafeSphereActionResultNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const bridge = requireBridge(RED, node);
    if (!bridge) return;
    node.on('input', (msg, send, done) => {
      const actionId = Number(msg.action_id ?? (msg.payload && msg.payload.action && msg.payload.action.id));
      if (!Number.isInteger(actionId) || actionId <= 0) {
        done(new Error('msg.action_id is missing: wire this node after a "safesphere action" node'));
        return;
      }
      // 'succeeded' is what flows said before the honest states; the gateway records it as sent_unconfirmed.
      const outcome = config.outcome === 'msg' ? msg.outcome : config.outcome || 'sent_unconfirmed';
      if (!['delivered', 'sent_unconfirmed', 'failed', 'succeeded'].includes(outcome)) {
        done(new Error(`msg.outcome must be "delivered", "sent_unconfirmed" or "failed", not ${JSON.stringify(outcome)}`));
        return;
      }
      const alerts = Array.isArray(msg.alerts) ? msg.alerts : msg.alert ? [msg.alert] : [];
      const detail = msg.detail !== undefined ? String(msg.detail) : null;
      const receipt = msg.receipt !== undefined ? msg.receipt : null;
      // The answer is immediate in-process, a promise from the gateway's thread when Node-RED runs in its own.
      Promise.resolve()
        .then(() => bridge.reportResult({ action_id: actionId, outcome, detail, receipt, alerts }))
        .then(
          (ack) => {
            if (ack.accepted) {
              const fill = ack.state === 'delivered' ? 'green' : ack.state === 'failed' ? 'red' : 'yellow';
              node.status({ fill, shape: 'dot', text: `action ${actionId} ${ack.state}` });
            } else {
              node.status({ fill: 'yellow', shape: 'ring', text: ack.reason });
              node.warn(ack.reason);
            }
            done();
          },
          (err) => done(err),
        );
    });
  }
  RED.nodes.registerType('safesphere action result', SafeSphereActionResultNode);
};
