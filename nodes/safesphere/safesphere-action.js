'use strict';
const { list, requireBridge } = require('./common.js');

module.exports = function (RED) {
  function SafeSphereActionNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const bridge = requireBridge(RED, node);
    if (!bridge) return;
    const filter = {
      types: list(config.types),
      levels: list(config.levels).map((l) => l.toUpperCase()),
      cameras: list(config.cameras),
      zones: list(config.zones),
    };
    let count = 0;
    const unregister = bridge.registerActionNode({
      id: node.id,
      filter,
      deliver(message) {
        count++;
        node.status({ fill: 'green', shape: 'dot', text: `${count} dispatched, last ${message.action.type}` });
        node.send({
          topic: `safesphere/action/${message.action.type}`,
          action_id: message.action.id,
          payload: message,
        });
      },
    });
    node.status({ fill: 'grey', shape: 'ring', text: filter.types.length ? filter.types.join(', ') : 'all actions' });
    node.on('close', (done) => {
      unregister();
      done();
    });
  }
  RED.nodes.registerType('safesphere action', SafeSphereActionNode);
};
