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
      const outcome = config.outcome === 'msg' ? msg.outcome : config.outcome || 'succeeded';
      if (outcome !== 'succeeded' && outcome !== 'failed') {
        done(new Error(`msg.outcome must be "succeeded" or "failed", not ${JSON.stringify(outcome)}`));
        return;
      }
      const alerts = Array.isArray(msg.alerts) ? msg.alerts : msg.alert ? [msg.alert] : [];
      const detail = msg.detail !== undefined ? String(msg.detail) : null;
      const ack = bridge.reportResult({ action_id: actionId, outcome, detail, alerts });
      if (ack.accepted) {
        node.status({ fill: outcome === 'succeeded' ? 'green' : 'red', shape: 'dot', text: `action ${actionId} ${ack.state}` });
      } else {
        node.status({ fill: 'yellow', shape: 'ring', text: ack.reason });
        node.warn(ack.reason);
      }
      done();
    });
  }
  RED.nodes.registerType('safesphere action result', SafeSphereActionResultNode);
};
