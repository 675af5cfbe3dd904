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
