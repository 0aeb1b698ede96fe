// Shared helpers for the SafeSphere nodes. The gateway hands them its automation bridge
// (src/automation/types.ts, AutomationBridge) as RED.settings.safesphere: in-process, no socket.
'use strict';

function bridgeOf(RED) {
  try {
    return RED.settings.safesphere || null;
  } catch (err) {
    return null;
  }
}

function list(text) {
  return String(text || '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/**
 * The bridge for a node, or null after marking the node as unusable: outside the
 * SafeSphere gateway (e.g. an exported flow imported elsewhere) there is nothing to reach.
 */
function requireBridge(RED, node) {
  const bridge = bridgeOf(RED);
  if (!bridge) {
    node.status({ fill: 'red', shape: 'ring', text: 'no SafeSphere gateway' });
    node.error('This node only works inside the SafeSphere Edge gateway.');
  }
  return bridge;
}

module.exports = { bridgeOf, list, requireBridge };
