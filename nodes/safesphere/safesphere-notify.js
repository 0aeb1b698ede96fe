'use strict';
// Hands a message to the gateway's durable delivery queue: the contacts named (from the gateway's
// `contacts` config), or the address of a `safesphere channel` config node. Each delivery becomes
// an action of the incident, with its receipt, exactly like an escalation step's.
const { list, requireBridge } = require('./common.js');

module.exports = function (RED) {
  function SafeSphereChannelNode(config) {
    RED.nodes.createNode(this, config);
    this.kind = config.kind;
    this.address = config.address;
    this.label = config.name;
  }
  RED.nodes.registerType('safesphere channel', SafeSphereChannelNode);

  function SafeSphereNotifyNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const bridge = requireBridge(RED, node);
    if (!bridge) return;
    const channelNode = config.channel ? RED.nodes.getNode(config.channel) : null;
    node.on('input', (msg, send, done) => {
      if (!bridge.notify) {
        done(new Error('contacts and escalation are not available in this gateway'));
        return;
      }
      const p = msg.payload || {};
      const incidentId = msg.incident_id || (p.incident && p.incident.incident_id) || p.incident_id;
      if (typeof incidentId !== 'string' || !incidentId) {
        done(new Error('msg.incident_id (or msg.payload.incident.incident_id) is missing'));
        return;
      }
      const contacts = Array.isArray(msg.contacts) ? msg.contacts : list(config.contacts);
      const channel = channelNode ? { kind: channelNode.kind, address: channelNode.address, name: channelNode.label || '' } : null;
      Promise.resolve()
        .then(() => bridge.notify({ incident_id: incidentId, contacts, channel, key: `${node.id}:${msg._msgid}` }))
        .then(
          (r) => {
            node.status({ fill: r.undeliverable ? 'yellow' : 'green', shape: 'dot', text: `${r.queued} queued${r.undeliverable ? `, ${r.undeliverable} undeliverable` : ''}` });
            msg.notify = r;
            send(msg);
            done();
          },
          (err) => {
            node.status({ fill: 'red', shape: 'ring', text: err.message });
            done(err);
          },
        );
    });
  }
  RED.nodes.registerType('safesphere notify', SafeSphereNotifyNode);
};
