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

module.exports = { bridgeOf, list };
