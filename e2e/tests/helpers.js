// Shared setup for the e2e tests: the running MadBase's URL and keys come
// from e2e/run.sh; Node 20 needs the ws package for realtime.
import { createClient } from '@supabase/supabase-js';
import WebSocket from 'ws';

export const url = process.env.SUPABASE_URL;
export const anonKey = process.env.ANON_KEY;
export const serviceKey = process.env.SERVICE_ROLE_KEY;
export const publishableKey = process.env.PUBLISHABLE_KEY;
export const secretKey = process.env.SECRET_KEY;
export const databaseUrl = process.env.DATABASE_URL;
export const adminPassword = process.env.ADMIN_PASSWORD;

if (!url || !anonKey) {
  throw new Error('run the e2e suite with e2e/run.sh, which starts MadBase and sets SUPABASE_URL and ANON_KEY');
}

export function client(key = anonKey, options = {}) {
  return createClient(url, key, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { transport: WebSocket },
    ...options,
  });
}

// waitFor polls fn every 25 ms until it returns a truthy value, which it
// returns, or throws after timeout.
export async function waitFor(fn, what, timeout = 10000) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

// subscribed subscribes a realtime channel and resolves once it is joined.
export function subscribed(channel) {
  return new Promise((resolve, reject) => {
    channel.subscribe((status, err) => {
      if (status === 'SUBSCRIBED') resolve(channel);
      else if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT') reject(err ?? new Error(status));
    });
  });
}
