// Realtime inspector: joins a channel over the Phoenix WebSocket protocol
// (/realtime/v1/websocket) with the service_role key, and shows broadcasts
// and database changes as they come; it can send a broadcast too.
import {h, mount, errorBox} from '../dom.js';
import * as api from '../api.js';

export async function realtimeView(el, ref) {
  const topic = h('input', {id: 'rt-topic', value: 'room1', 'aria-label': 'Channel'});
  const table = h('input', {id: 'rt-table', placeholder: 'table (empty: every table)', 'aria-label': 'Table for database changes'});
  const join = h('button', {type: 'submit', class: 'primary', id: 'rt-join'}, 'Join');
  const leave = h('button', {type: 'button', disabled: true}, 'Leave');
  const ev = h('input', {id: 'rt-event', value: 'ping', 'aria-label': 'Broadcast event'});
  const payload = h('input', {id: 'rt-payload', value: '{"hello":"world"}', 'aria-label': 'Broadcast payload (JSON)'});
  const send = h('button', {type: 'submit', disabled: true, id: 'rt-send'}, 'Send broadcast');
  const state = h('span', {class: 'muted'}, 'not connected');
  const log = h('div', {class: 'logs', id: 'rt-events', role: 'log', tabindex: '0'});
  let ws = null;
  let beat = null;
  let seq = 0;
  let joined = null;

  const show = (kind, obj) => {
    log.append(h('div', {class: `log-line rt-${kind}`}, h('span', {class: 'log-time'}, new Date().toLocaleTimeString([], {hour12: false})),
      h('span', {class: 'log-level'}, kind), h('span', {class: 'log-msg'}, JSON.stringify(obj))));
    log.scrollTop = log.scrollHeight;
  };
  const close = () => {
    clearInterval(beat);
    if (ws) ws.close();
    ws = null;
    joined = null;
    join.disabled = false;
    leave.disabled = true;
    send.disabled = true;
  };

  async function open() {
    close();
    let key;
    try { key = (await api.projectKeys(ref)).service_role; } catch (e) { mount(log, errorBox(e)); return; }
    const t = `realtime:${topic.value.trim()}`;
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/realtime/v1/websocket?apikey=${encodeURIComponent(key)}&vsn=1.0.0`;
    ws = new WebSocket(url);
    join.disabled = true;
    state.textContent = 'connecting…';
    const msg = (topicName, event, pl) => ws.send(JSON.stringify({topic: topicName, event, payload: pl, ref: String(++seq), join_ref: joined}));
    ws.onopen = () => {
      const changes = [{event: '*', schema: 'public', ...(table.value.trim() ? {table: table.value.trim()} : {})}];
      joined = String(seq + 1);
      msg(t, 'phx_join', {config: {broadcast: {self: true}, presence: {key: ''}, postgres_changes: changes}, access_token: key});
      beat = setInterval(() => msg('phoenix', 'heartbeat', {}), 25000);
    };
    ws.onmessage = (m) => {
      const d = JSON.parse(m.data);
      if (d.event === 'phx_reply' && d.ref === joined) {
        const ok = d.payload && d.payload.status === 'ok';
        state.textContent = ok ? `joined ${t}` : 'join refused';
        leave.disabled = false;
        send.disabled = !ok;
        show(ok ? 'joined' : 'error', d.payload);
      } else if (d.event === 'broadcast') show('broadcast', d.payload);
      else if (d.event === 'postgres_changes') show('change', d.payload && d.payload.data ? d.payload.data : d.payload);
      else if (d.event === 'system' || d.event === 'phx_error' || d.event === 'phx_close') show(d.event, d.payload);
      else if (d.event !== 'phx_reply' && d.event !== 'presence_state' && d.event !== 'presence_diff') show(d.event, d.payload);
    };
    ws.onclose = () => { state.textContent = 'disconnected'; close(); };
    ws.onerror = () => { state.textContent = 'connection failed'; };
  }

  mount(el, h('header', {class: 'page-head'}, h('h1', {}, 'Realtime inspector')),
    h('section', {class: 'card'},
      h('form', {class: 'toolbar', on: {submit: (e) => { e.preventDefault(); open(); }}}, h('label', {for: 'rt-topic'}, 'Channel'), topic, table, join, leave, state),
      h('form', {class: 'toolbar', on: {submit: (e) => {
        e.preventDefault();
        let p;
        try { p = JSON.parse(payload.value || '{}'); } catch { show('error', 'the payload is not JSON'); return; }
        ws.send(JSON.stringify({topic: `realtime:${topic.value.trim()}`, event: 'broadcast', payload: {type: 'broadcast', event: ev.value, payload: p}, ref: String(++seq), join_ref: joined}));
      }}}, h('label', {for: 'rt-event'}, 'Broadcast'), ev, payload, send),
      h('p', {class: 'help'}, 'Database changes arrive for tables in the supabase_realtime publication (alter publication supabase_realtime add table …).'),
      log));
  leave.addEventListener('click', close);
  return close;
}
