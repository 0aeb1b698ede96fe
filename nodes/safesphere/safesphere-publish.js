'use strict';
const { requireBridge } = require('./common.js');

module.exports = function (RED) {
  function SafeSpherePublishNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const bridge = requireBridge(RED, node);
    if (!bridge) return;
    const qos = config.qos === '0' ? 0 : 1;
    const retain = config.retain === true || config.retain === 'true';
    let count = 0;
    node.on('input', (msg, send, done) => {
      const topic = config.topic || msg.topic;
      let payload = msg.payload;
      if (payload === null || payload === undefined) payload = '';
      else if (!Buffer.isBuffer(payload)) payload = typeof payload === 'object' ? JSON.stringify(payload) : String(payload);
      bridge.publish(topic, payload, { qos, retain }).then(
        () => {
          count++;
          node.status({ fill: 'green', shape: 'dot', text: `${count} published` });
          done();
        },
        (err) => {
          node.status({ fill: 'red', shape: 'ring', text: err.message });
          done(err);
        },
      );
    });
  }
  RED.nodes.registerType('safesphere publish', SafeSpherePublishNode);
};
