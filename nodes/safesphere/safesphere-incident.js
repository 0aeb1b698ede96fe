'use strict';
const { list, requireBridge } = require('./common.js');

module.exports = function (RED) {
  function SafeSphereIncidentNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const bridge = requireBridge(RED, node);
    if (!bridge) return;
    const levels = list(config.levels).map((l) => l.toUpperCase());
    let count = 0;
    const unregister = bridge.registerIncidentNode({
      id: node.id,
      deliver(incident) {
        if (levels.length && !levels.includes(incident.threat_level)) return;
        count++;
        node.status({ fill: 'blue', shape: 'dot', text: `${count} incidents, last ${incident.threat_level}` });
        node.send({ topic: `safesphere/incidents/${incident.threat_level}`, payload: incident });
      },
    });
    node.on('close', (done) => {
      unregister();
      done();
    });
  }
  RED.nodes.registerType('safesphere incident', SafeSphereIncidentNode);
};
