// Shared by the site-operations tests: a small site with a map, and the operator token.
import { createHash } from 'node:crypto';
export const OPERATOR_TOKEN = 'test-operator-token-0123456789';
export const METRICS_TOKEN = 'test-metrics-token-abcdef';
/** A camera's token, for POST /threats/report. */
export const CAMERA_TOKEN = 'test-camera-token-9876543210';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 *   north-exit          south-exit
 *   [north] --30-- [hall] --35-- [south]
 *                    |20           |60
 *                  [lobby] --------+
 */
export const SITE = {
  zones: [
    { id: 'lobby', cameras: ['cam-1'], risk: 0.5, name: 'Lobby', x: 50, y: 70 },
    { id: 'hall', cameras: ['cam-2'], risk: 0.5, name: 'Hall', x: 50, y: 40 },
    { id: 'north', cameras: ['cam-3'], risk: 0.2, name: 'North wing', x: 10, y: 40 },
    { id: 'south', cameras: ['cam-4'], risk: 0.2, name: 'South wing', x: 90, y: 40 },
  ],
  site: {
    map: {
      links: [
        { from: 'lobby', to: 'hall', distance_m: 20 },
        { from: 'hall', to: 'north', distance_m: 30 },
        { from: 'hall', to: 'south', distance_m: 35 },
        { from: 'lobby', to: 'south', distance_m: 60 },
      ],
      exits: [
        { id: 'exit-n', zone: 'north', name: 'north exit', distance_m: 5 },
        { id: 'exit-s', zone: 'south', name: 'south exit', distance_m: 5 },
      ],
      police_station: { name: 'Central police station', address: '1 Main St', lat: 51.5, lon: -0.12, exit: 'exit-n' },
      risk_weight: 2,
    },
  },
  dashboard: { operator_token: OPERATOR_TOKEN },
  // Tests come from loopback: make it need a token like any other client.
  auth: { trust_loopback: false, tokens: [{ name: 'test-camera', role: 'camera', sha256: sha256(CAMERA_TOKEN), cameras: ['*'] }] },
};

export const auth = (token = OPERATOR_TOKEN) => ({ authorization: `Bearer ${token}` });

export async function getAuthed(url: string, token = OPERATOR_TOKEN): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { headers: auth(token) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* text */
  }
  return { status: res.status, body };
}
