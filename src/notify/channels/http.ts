// fetch with the delivery's timeout and the service's stop signal.
export async function fetchWithin(url: string, init: RequestInit, timeoutMs: number, signal: AbortSignal): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) });
  const text = await res.text();
  return { status: res.status, text, headers: res.headers };
}

export function parseJson(text: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
