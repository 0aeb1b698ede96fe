// SafeSphere Edge operator dashboard. Plain browser JavaScript, no build step, no CDN:
// everything is served by the gateway. Charts: uPlot (vendored from npm, /dashboard/vendor/).
'use strict';
(() => {
  const LEVELS = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'];
  const COLORS = { LOW: '#3fb950', MEDIUM: '#d29922', HIGH: '#f0883e', CRITICAL: '#f85149' };
  const ALARM_LEVELS = new Set(['HIGH', 'CRITICAL']);
  /** An alarm that arrived while the page was closed still rings if it is this recent and nobody took it. */
  const ALARM_RECENT_MS = 10 * 60_000;
  const MUTE_MS = 2 * 60_000;
  const UNDO_MS = 5000;
  const BASE_TITLE = 'SafeSphere Edge — operations';
  const $ = (sel) => document.querySelector(sel);
  const el = (tag, attrs = {}, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
    return e;
  };
  // replaceChildren() would print a null child as the text "null": drop the empty ones.
  const put = (node, ...kids) => node.replaceChildren(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false));
  const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString() : '');
  /** "3 min ago", "in 2 h": the absolute time goes in the element's title. */
  const ago = (iso) => {
    if (!iso) return '—';
    const ms = Date.parse(iso);
    if (Number.isNaN(ms)) return String(iso);
    const d = (Date.now() - ms) / 1000;
    const a = Math.abs(d);
    const n = a < 45 ? 'just now' : a < 3600 ? `${Math.round(a / 60)} min` : a < 86400 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86400)} d`;
    return n === 'just now' ? n : d >= 0 ? `${n} ago` : `in ${n}`;
  };
  const timeEl = (iso) => el('time', { datetime: iso, title: fmtTime(iso) }, ago(iso));
  const pct = (x) => (typeof x === 'number' ? `${Math.round(x * 100)}%` : '—');
  const two = (x) => (typeof x === 'number' ? x.toFixed(2) : x ?? '—');
  /** Joins the parts that exist: no dangling "cam-4 ·". */
  const joinParts = (...parts) => parts.filter((p) => p !== null && p !== undefined && p !== '').join(' · ');
  const words = (key) => {
    const s = String(key).replace(/_/g, ' ');
    return s.charAt(0).toUpperCase() + s.slice(1);
  };
  const labelWords = (l) => (l === 'false_alarm' ? 'false alarm' : l);

  const state = {
    token: sessionStorage.getItem('ss.token'),
    operator: sessionStorage.getItem('ss.operator') || 'operator',
    cursor: null, // the last feed seq seen; a reconnect resumes after it
    incidents: new Map(), // incident_id -> {incident, status, labels: [], actions: Map}
    selected: null,
    ws: null,
    lastMessageAt: 0,
    heartbeatS: 15,
    retry: 0,
    view: 'live',
    health: null,
    caughtUp: false,
    arming: null, // null: not known yet; false: not on this gateway; else GET /arming's answer
  };
  window.__dashboard = state; // for tests and debugging

  async function api(path, options = {}) {
    const res = await fetch(path, {
      ...options,
      headers: { authorization: `Bearer ${state.token}`, ...(options.body ? { 'content-type': 'application/json' } : {}), ...(options.headers || {}) },
    });
    if (res.status === 401) {
      logout('Your session ended: log in again.');
      throw new Error('unauthorized');
    }
    const type = res.headers.get('content-type') || '';
    const body = type.includes('json') ? await res.json() : await res.blob();
    if (!res.ok) throw Object.assign(new Error(body?.error?.message || res.statusText), { status: res.status, body });
    return body;
  }

  // ------------------------------------------------------------------ the alarm
  // Rings while an unacknowledged HIGH/CRITICAL is open, until someone takes it or mutes it.
  const alarm = { ctx: null, osc: null, gain: null, cycle: null, level: null, mutedUntil: 0, blocked: false, flash: false, open: new Map() };
  window.__alarm = alarm;
  const PATTERNS = {
    // CRITICAL: fast two-tone square bursts, every second. HIGH: one slower sine tone every two seconds.
    CRITICAL: { type: 'square', period: 1000, beeps: [[0, 0.12, 880], [0.18, 0.12, 660], [0.36, 0.12, 880], [0.54, 0.12, 660]] },
    HIGH: { type: 'sine', period: 2000, beeps: [[0, 0.45, 660]] },
  };
  /** Browsers allow sound only after a gesture: called from the login click and any later click or key. */
  function unlockAudio() {
    const AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) {
      alarm.blocked = true;
      return renderAlarm();
    }
    if (!alarm.ctx) alarm.ctx = new AC();
    const done = () => {
      alarm.blocked = alarm.ctx.state !== 'running';
      renderAlarm();
    };
    if (alarm.ctx.state === 'running') return done();
    alarm.ctx.resume().then(done, done);
  }
  function askNotifications() {
    if ('Notification' in window && Notification.permission === 'default') Notification.requestPermission().catch(() => {});
  }
  for (const ev of ['pointerdown', 'keydown']) document.addEventListener(ev, () => state.token && alarm.blocked && unlockAudio(), { capture: true });

  function stopSound() {
    clearInterval(alarm.cycle);
    alarm.cycle = null;
    if (alarm.osc) {
      try {
        alarm.osc.stop();
      } catch {}
      alarm.osc.disconnect();
    }
    alarm.osc = null;
    alarm.level = null;
  }
  function startSound(level) {
    if (alarm.osc && alarm.level === level) return;
    stopSound();
    const ctx = alarm.ctx;
    const p = PATTERNS[level];
    const gain = ctx.createGain();
    gain.gain.value = 0;
    gain.connect(ctx.destination);
    const osc = ctx.createOscillator();
    osc.type = p.type;
    osc.connect(gain);
    osc.start();
    const schedule = () => {
      const t0 = ctx.currentTime + 0.02;
      for (const [at, len, hz] of p.beeps) {
        osc.frequency.setValueAtTime(hz, t0 + at);
        gain.gain.setValueAtTime(0.25, t0 + at);
        gain.gain.setValueAtTime(0, t0 + at + len);
      }
    };
    schedule();
    alarm.cycle = setInterval(schedule, p.period);
    alarm.osc = osc;
    alarm.gain = gain;
    alarm.level = level;
  }

  function isHandled(e) {
    const last = e.labels[e.labels.length - 1];
    return Boolean(e.status) || last?.label === 'false_alarm';
  }
  /** An incident's state at a glance: open, acknowledged, false alarm or resolved. */
  function stateOf(e) {
    const last = e.labels[e.labels.length - 1];
    if (e.status?.state === 'resolved') return 'resolved';
    if (last?.label === 'false_alarm') return 'false_alarm';
    if (e.status?.state === 'acknowledged') return 'acknowledged';
    return 'open';
  }
  const STATE_WORDS = { open: 'open', acknowledged: 'acknowledged', false_alarm: 'false alarm', resolved: 'resolved' };

  function considerAlarm(id, fresh) {
    const e = state.incidents.get(id);
    const i = e?.incident;
    if (!i || !ALARM_LEVELS.has(i.threat_level) || isHandled(e)) return;
    if (!fresh && !(Date.now() - Date.parse(i.created_at) < ALARM_RECENT_MS)) return;
    if (alarm.open.has(id)) return;
    alarm.open.set(id, i.threat_level);
    if (fresh) announce(`New ${i.threat_level} incident ${joinParts(i.zone, i.camera_id)}`);
    if (fresh && document.hidden && 'Notification' in window && Notification.permission === 'granted') {
      try {
        new Notification(`${i.threat_level} · SafeSphere`, { body: joinParts(i.incident_id, i.zone, i.camera_id, i.behavior_summary), tag: id, requireInteraction: true });
      } catch {}
    }
  }
  function settleAlarm(id) {
    const e = state.incidents.get(id);
    if (e && isHandled(e) && alarm.open.delete(id)) renderAlarm();
  }
  /** The open alarms, CRITICAL first, newest first. */
  function openAlarms() {
    return [...alarm.open.keys()]
      .map((id) => state.incidents.get(id).incident)
      .sort((a, b) => (a.threat_level === b.threat_level ? (b.created_at > a.created_at ? 1 : -1) : a.threat_level === 'CRITICAL' ? -1 : 1));
  }

  function renderAlarm() {
    const list = openAlarms();
    const banner = $('#alarm-banner');
    if (!state.token || list.length === 0) {
      banner.hidden = true;
      stopSound();
      document.title = BASE_TITLE;
      return;
    }
    const top = list[0];
    const muted = Date.now() < alarm.mutedUntil;
    const crit = list.filter((i) => i.threat_level === 'CRITICAL').length;
    const topLevel = crit ? 'CRITICAL' : 'HIGH';
    banner.hidden = false;
    banner.className = `alarm-banner a-${topLevel}`;
    const left = Math.max(0, Math.ceil((alarm.mutedUntil - Date.now()) / 1000));
    put(
      $('#alarm-text'),
      el('b', { id: 'alarm-count' }, `${list.length} open alarm${list.length === 1 ? '' : 's'}`),
      ' ',
      el('span', {}, joinParts(`${top.threat_level} ${top.incident_id}`, top.zone, top.camera_id)),
      muted ? el('span', { id: 'mute-countdown', class: 'mute-countdown' }, ` · sound muted, ${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')} left`) : null,
      alarm.blocked ? el('span', { id: 'audio-blocked', class: 'audio-blocked' }, ' · The browser is blocking the alarm sound: click Enable sound.') : null,
    );
    $('#alarm-ack').dataset.id = top.incident_id;
    $('#alarm-mute').textContent = muted ? 'Unmute' : 'Mute 2 min (M)';
    $('#alarm-sound').hidden = !alarm.blocked;
    if (!muted && alarm.ctx && alarm.ctx.state === 'running') startSound(topLevel);
    else stopSound();
    const flashing = `(${list.length}) ${topLevel} · SafeSphere`;
    document.title = alarm.flash ? `⚠ ${flashing}` : flashing;
  }
  // One ticker: the title flashes, the mute counts down and ends, the label undo counts down.
  setInterval(() => {
    alarm.flash = !alarm.flash;
    if (alarm.mutedUntil && Date.now() >= alarm.mutedUntil) alarm.mutedUntil = 0;
    if (alarm.open.size) renderAlarm();
    renderUndo();
  }, 1000);

  async function acknowledge(id) {
    if (!id) return;
    await api(`/incidents/${encodeURIComponent(id)}/acknowledge`, { method: 'POST', body: JSON.stringify({ by: state.operator, via: 'dashboard' }) });
    // The status also comes back over the feed; stop at once rather than wait for it.
    const e = state.incidents.get(id);
    if (e && !e.status) e.status = { state: 'acknowledged', acknowledged_by: state.operator };
    alarm.open.delete(id);
    renderAlarm();
    renderRow(id);
    if (state.selected === id) loadDetail(id);
  }
  function toggleMute() {
    alarm.mutedUntil = Date.now() < alarm.mutedUntil ? 0 : Date.now() + MUTE_MS;
    renderAlarm();
  }
  $('#alarm-ack').addEventListener('click', (e) => acknowledge(e.currentTarget.dataset.id).catch(() => {}));
  $('#alarm-mute').addEventListener('click', toggleMute);
  $('#alarm-sound').addEventListener('click', unlockAudio);
  $('#alarm-show').addEventListener('click', () => {
    const top = openAlarms()[0];
    if (top) {
      show('live');
      select(top.incident_id);
    }
  });
  // Keyboard: A acknowledges the top alarm, M mutes, Escape closes the detail drawer.
  document.addEventListener('keydown', (e) => {
    if (!state.token || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === 'Escape') return closeDetail();
    const t = e.target;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA')) return;
    if ((e.key === 'a' || e.key === 'A') && alarm.open.size) {
      e.preventDefault();
      acknowledge(openAlarms()[0].incident_id).catch(() => {});
    } else if ((e.key === 'm' || e.key === 'M') && alarm.open.size) {
      e.preventDefault();
      toggleMute();
    }
  });
  function announce(text) {
    $('#announcer').textContent = text;
  }

  // ------------------------------------------------------------------ login
  $('#login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    // The click is the gesture the browser needs before it allows sound.
    unlockAudio();
    askNotifications();
    state.token = $('#login-token').value.trim();
    state.operator = $('#login-name').value.trim() || 'operator';
    try {
      const res = await fetch('/api/login', { method: 'POST', headers: { authorization: `Bearer ${state.token}` } });
      if (!res.ok) throw new Error(res.status === 401 ? 'That token is not valid.' : `Login failed (${res.status}).`);
      const body = await res.json();
      sessionStorage.setItem('ss.token', state.token);
      sessionStorage.setItem('ss.operator', state.operator);
      $('#site').textContent = joinParts(body.site_id, state.operator);
      start();
    } catch (err) {
      state.token = null;
      $('#login-error').textContent = err.message;
    }
  });
  $('#logout').addEventListener('click', () => logout(''));
  function logout(message) {
    sessionStorage.removeItem('ss.token');
    state.token = null;
    if (state.ws) state.ws.close();
    stopRoute();
    alarm.open.clear();
    renderAlarm();
    $('#app').hidden = true;
    $('#login').hidden = false;
    $('#login-error').textContent = message;
  }

  // ------------------------------------------------------------------ views
  for (const b of document.querySelectorAll('nav button')) {
    b.addEventListener('click', () => show(b.dataset.view));
  }
  function show(view) {
    state.view = view;
    for (const b of document.querySelectorAll('nav button')) {
      b.classList.toggle('active', b.dataset.view === view);
      b.setAttribute('aria-current', b.dataset.view === view ? 'page' : 'false');
    }
    for (const s of document.querySelectorAll('.view')) s.hidden = s.id !== `view-${view}`;
    if (view !== 'live') closeDetail();
    if (view === 'analysis') loadAnalysis();
    if (view === 'map') loadMap();
    else stopRoute();
    if (view === 'system') renderHealth();
  }

  // ------------------------------------------------------------------ live feed
  function connect() {
    if (!state.token) return;
    const q = new URLSearchParams({ access_token: state.token });
    if (state.cursor !== null) q.set('after', String(state.cursor));
    else q.set('tail', '300');
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws/incidents?${q}`);
    state.ws = ws;
    ws.onopen = () => {
      state.retry = 0;
      setConn(true);
    };
    ws.onmessage = (e) => {
      state.lastMessageAt = Date.now();
      const m = JSON.parse(e.data);
      onMessage(m);
    };
    ws.onclose = () => {
      if (state.ws !== ws) return;
      setConn(false);
      state.ws = null;
      if (!state.token) return;
      const delay = Math.min(5000, 250 * 2 ** state.retry++);
      setTimeout(connect, delay);
    };
    ws.onerror = () => ws.close();
  }
  // A connection that went silent (no heartbeat) is dead even if the browser has not noticed.
  setInterval(() => {
    if (state.ws && state.ws.readyState === 1 && Date.now() - state.lastMessageAt > state.heartbeatS * 2500) state.ws.close();
  }, 1000);
  function setConn(up) {
    const c = $('#conn');
    c.textContent = up ? 'live' : 'reconnecting…';
    c.className = `conn ${up ? 'up' : 'down'}`;
  }

  function advance(seq) {
    if (typeof seq === 'number' && (state.cursor === null || seq > state.cursor)) {
      state.cursor = seq;
      $('#feed-info').textContent = `seq ${seq}`;
    }
  }

  function entry(id) {
    let e = state.incidents.get(id);
    if (!e) state.incidents.set(id, (e = { incident: null, status: null, labels: [], actions: new Map() }));
    return e;
  }

  /** Replay ids seen before the feed caught up: they ring only if still open once it has. */
  const pendingAlarms = new Set();
  function onMessage(m) {
    switch (m.type) {
      case 'hello':
        state.heartbeatS = m.heartbeat_s || 15;
        state.helloHead = m.head;
        if (state.cursor === null) advance(m.after);
        $('#feed-info').textContent = `seq ${m.head}`;
        break;
      case 'heartbeat':
        $('#feed-info').textContent = `seq ${m.head}`;
        break;
      case 'health':
        state.health = m;
        if (state.arming === null) loadArming();
        if (state.view === 'system') renderHealth();
        break;
      case 'notice':
        console.warn('feed notice', m);
        break;
      case 'incident': {
        const e = entry(m.incident_id);
        e.incident = { ...m.data, zone: m.zone };
        // Only what happens while the page watches flashes; a replay or catch-up does not.
        const fresh = m.seq > (state.helloHead ?? 0);
        addToTimeline(m.incident_id, fresh);
        if (fresh) considerAlarm(m.incident_id, true);
        else pendingAlarms.add(m.incident_id);
        break;
      }
      case 'action': {
        const e = entry(m.incident_id);
        e.actions.set(m.data.action_id, m.data);
        break;
      }
      case 'label': {
        const e = entry(m.incident_id);
        e.labels.push(m.data);
        renderRow(m.incident_id);
        settleAlarm(m.incident_id);
        break;
      }
      case 'status': {
        const e = entry(m.incident_id);
        e.status = m.data;
        renderRow(m.incident_id);
        settleAlarm(m.incident_id);
        break;
      }
      case 'arming':
        // A change of mode from anywhere (schedule, keypad, Home Assistant, another screen).
        if (state.arming && !state.arming.error) {
          state.arming = { ...state.arming, mode: m.data.mode, by: m.data.by, via: m.data.via, since: m.data.at ?? m.data.since ?? state.arming.since };
          renderArming();
        }
        break;
      default:
        break;
    }
    if (m.seq) advance(m.seq);
    if (state.cursor !== null && state.cursor >= (state.helloHead ?? 0) && (pendingAlarms.size || m.type === 'hello' || m.type === 'incident')) {
      for (const id of pendingAlarms) considerAlarm(id, false);
      pendingAlarms.clear();
      renderAlarm();
    }
    if (m.incident_id && m.incident_id === state.selected && ['action', 'label', 'status', 'escalation'].includes(m.type)) scheduleDetail();
  }

  function levelFilter() {
    return new Set([...document.querySelectorAll('.lvl:checked')].map((c) => c.value));
  }
  for (const c of document.querySelectorAll('.lvl')) c.addEventListener('change', () => {
    const allowed = levelFilter();
    for (const li of document.querySelectorAll('#timeline li')) li.hidden = !allowed.has(li.dataset.level);
  });

  function addToTimeline(id, fresh) {
    const existing = document.querySelector(`#timeline li[data-id="${CSS.escape(id)}"]`);
    if (existing) return renderRow(id);
    const li = el('li', {
      'data-id': id,
      tabindex: '0',
      onclick: () => select(id),
      onkeydown: (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          select(id);
        } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
          e.preventDefault();
          let n = e.key === 'ArrowDown' ? li.nextElementSibling : li.previousElementSibling;
          while (n && n.hidden) n = e.key === 'ArrowDown' ? n.nextElementSibling : n.previousElementSibling;
          n?.focus();
        }
      },
    });
    renderRowInto(li, id);
    if (fresh) li.classList.add('fresh');
    const list = $('#timeline');
    list.prepend(li);
    while (list.children.length > 500) list.lastElementChild.remove();
  }
  function renderRow(id) {
    const li = document.querySelector(`#timeline li[data-id="${CSS.escape(id)}"]`);
    if (li) renderRowInto(li, id);
  }
  function renderRowInto(li, id) {
    const e = state.incidents.get(id);
    const i = e.incident;
    if (!i) return;
    const st = stateOf(e);
    li.dataset.level = i.threat_level;
    li.dataset.state = st;
    li.className = `${li.classList.contains('fresh') ? 'fresh ' : ''}is-${st}${state.selected === id ? ' selected' : ''}`;
    li.hidden = !levelFilter().has(i.threat_level);
    li.setAttribute('aria-label', joinParts(i.threat_level, i.incident_id, STATE_WORDS[st]));
    const last = e.labels[e.labels.length - 1];
    put(li,
      el('span', { class: `bar lvl-${i.threat_level}` }),
      el(
        'div',
        { class: 'row-main' },
        el('div', {}, el('span', { class: `badge lvl-${i.threat_level}` }, i.threat_level), ' ', el('b', { class: 'row-id' }, i.incident_id)),
        el('div', { class: 'meta' }, joinParts(fmtTime(i.created_at), i.camera_id ?? 'no camera', i.zone, i.behavior_summary)),
      ),
      el(
        'div',
        { class: 'tags' },
        e.status || st === 'open' ? el('span', { class: `st st-${e.status ? e.status.state : 'open'}` }, e.status ? e.status.state : 'open') : null,
        last ? el('span', { class: `st st-${last.label}` }, labelWords(last.label)) : null,
      ),
    );
  }

  let detailTimer = null;
  function scheduleDetail() {
    clearTimeout(detailTimer);
    detailTimer = setTimeout(() => state.selected && loadDetail(state.selected), 150);
  }
  function select(id) {
    state.selected = id;
    for (const li of document.querySelectorAll('#timeline li')) li.classList.toggle('selected', li.dataset.id === id);
    loadDetail(id, true);
  }
  const narrow = () => window.matchMedia('(max-width: 900px)').matches;
  function openDetail() {
    const box = $('#detail');
    box.classList.add('open');
    $('#detail-backdrop').hidden = !narrow();
    // On a tablet the detail is a drawer over the list; on a wide screen it sits beside it.
    if (!narrow()) {
      // Sticky beside the list, under the header and banner, scrolled to its top: always in view.
      box.style.top = `${$('.top').offsetHeight + 8}px`;
      box.scrollTop = 0;
    }
    box.focus({ preventScroll: true });
  }
  function closeDetail() {
    const box = $('#detail');
    if (!box.classList.contains('open')) return;
    box.classList.remove('open');
    $('#detail-backdrop').hidden = true;
    const li = state.selected && document.querySelector(`#timeline li[data-id="${CSS.escape(state.selected)}"]`);
    if (li && narrow()) li.focus();
  }
  $('#detail-backdrop').addEventListener('click', closeDetail);

  // A label waits UNDO_MS before it is stored, so a mis-tap can be taken back.
  let pendingLabel = null; // {id, value, due, timer}
  function renderUndo() {
    const box = document.getElementById('label-undo');
    if (!box) return;
    if (!pendingLabel || pendingLabel.id !== state.selected) return put(box);
    const left = Math.max(0, Math.ceil((pendingLabel.due - Date.now()) / 1000));
    put(box,
      el('span', {}, `“${labelWords(pendingLabel.value)}” will be saved in ${left} s. `),
      el('button', { id: 'btn-undo', class: 'secondary', onclick: cancelLabel }, 'Undo'),
    );
  }
  function cancelLabel() {
    if (!pendingLabel) return;
    clearTimeout(pendingLabel.timer);
    const id = pendingLabel.id;
    pendingLabel = null;
    announce('Label undone');
    if (state.selected === id) loadDetail(id);
  }
  function queueLabel(id, value) {
    if (pendingLabel) cancelLabel();
    const p = { id, value, due: Date.now() + UNDO_MS, timer: null };
    p.timer = setTimeout(async () => {
      if (pendingLabel !== p) return;
      pendingLabel = null;
      try {
        await api(`/incidents/${encodeURIComponent(id)}/label`, { method: 'POST', body: JSON.stringify({ label: value, by: state.operator }) });
      } catch (err) {
        announce(`The label was not saved: ${err.message}`);
      }
      if (state.selected === id) loadDetail(id);
    }, UNDO_MS);
    pendingLabel = p;
    if (state.selected === id) loadDetail(id);
  }

  async function loadDetail(id, opening = false) {
    const d = await api(`/api/incidents/${encodeURIComponent(id)}`);
    if (state.selected !== id) return;
    const weapons = (() => {
      try {
        return JSON.parse(d.weapon_types).join(', ');
      } catch {
        return d.weapon_types;
      }
    })();
    const ai = Object.entries(d).filter(([k, v]) => /^ai(_|$)|annotation/.test(k) && v && !(Array.isArray(v) && v.length === 0));
    const lastLabel = d.labels[d.labels.length - 1]?.label ?? null;
    const pending = pendingLabel && pendingLabel.id === id ? pendingLabel.value : null;
    const labelButton = (value, text, btnId) => {
      // A second identical label is refused: the button says what is already stored.
      const same = lastLabel === value;
      return el('button', { id: btnId, disabled: same || pending === value, title: same ? `Already marked ${labelWords(value)}` : null, onclick: () => queueLabel(id, value) }, same ? `Marked ${labelWords(value)}` : text);
    };
    const status = async (action) => {
      if (action === 'acknowledge') return acknowledge(id);
      await api(`/incidents/${encodeURIComponent(id)}/${action}`, { method: 'POST', body: JSON.stringify({ by: state.operator, via: 'dashboard' }) });
      loadDetail(id);
    };
    const os = d.operator_status;
    const st = stateOf({ status: os, labels: d.labels });
    const snapshot = el('div', { class: 'snapshot' }, d.snapshot ? el('p', { class: 'muted' }, 'Loading snapshot…') : el('p', { class: 'muted' }, 'No snapshot for this incident.'));
    const box = $('#detail');
    box.dataset.state = st;
    put(box,
      el('div', { class: 'detail-head' },
        el('h2', { id: 'detail-title' }, el('span', { class: `badge lvl-${d.threat_level}` }, d.threat_level), ' ', d.incident_id),
        el('button', { id: 'detail-close', class: 'secondary close', 'aria-label': 'Close the detail', onclick: closeDetail }, '✕'),
      ),
      el('p', { class: `state-line is-${st}` }, el('span', { class: `st st-${st}`, id: 'detail-state' }, STATE_WORDS[st])),
      el(
        'div',
        { class: 'buttons' },
        labelButton('confirmed', 'Confirm', 'btn-confirm'),
        labelButton('false_alarm', 'False alarm', 'btn-false-alarm'),
        el('button', { id: 'btn-ack', onclick: () => status('acknowledge'), disabled: Boolean(os) }, os ? 'Acknowledged' : 'Acknowledge'),
        el('button', { id: 'btn-resolve', onclick: () => status('resolve'), disabled: os?.state === 'resolved' }, os?.state === 'resolved' ? 'Resolved' : 'Resolve'),
      ),
      el('div', { id: 'label-undo', class: 'undo', 'aria-live': 'polite' }),
      el(
        'dl',
        {},
        el('dt', {}, 'Status'),
        el('dd', { id: 'detail-status' }, os ? joinParts(`${os.state} by ${os.resolved_by ?? os.acknowledged_by}`, os.acknowledged_via ? `via ${os.acknowledged_via}` : null) : 'open'),
        el('dt', {}, 'Score'),
        el('dd', {}, joinParts(`${pct(d.threat_score)} (camera said ${d.reported_level} ${pct(d.reported_score)})`, d.model_version ? `model ${d.model_version}` : null)),
        el('dt', {}, 'Camera'),
        el('dd', {}, joinParts(d.camera_id ?? '—', d.zone ? `zone ${d.zone}` : null)),
        el('dt', {}, 'Received'),
        el('dd', {}, timeEl(d.created_at)),
        el('dt', {}, 'Behaviour'),
        el('dd', {}, d.behavior_summary ?? '—'),
        el('dt', {}, 'Weapons'),
        el('dd', {}, d.weapon_detected ? weapons || 'yes' : 'none'),
        el('dt', {}, 'People'),
        el('dd', {}, d.people_count ?? '—'),
        el('dt', {}, 'Response'),
        el('dd', {}, d.action_taken ?? '—'),
      ),
      snapshot,
      ai.length ? el('div', {}, el('h3', {}, 'AI annotation'), ...ai.map(([k, v]) => el('pre', {}, `${words(k)}: ${typeof v === 'string' ? v : JSON.stringify(v, null, 2)}`))) : null,
      renderDeliveries(d),
      el('h3', {}, 'Actions'),
      el('div', { class: 'table-wrap' },
        el(
          'table',
          { id: 'detail-actions' },
          el('tr', {}, el('th', {}, 'Action'), el('th', {}, 'State'), el('th', {}, 'Attempts'), el('th', {}, 'Result')),
          ...d.actions.map((a) => el('tr', {}, el('td', {}, words(a.action_type)), el('td', { class: `state-${a.status}` }, words(a.status)), el('td', {}, a.attempts ?? 0), el('td', {}, a.result ?? ''))),
        ),
      ),
      el('h3', {}, 'Labels'),
      d.labels.length
        ? el('ul', { id: 'detail-labels' }, ...d.labels.map((l) => el('li', {}, `${labelWords(l.label)} by ${l.by} · `, timeEl(l.created_at))))
        : el('p', { id: 'detail-labels', class: 'muted' }, 'No labels yet.'),
    );
    renderUndo();
    if (opening) openDetail();
    if (d.snapshot) {
      try {
        const blob = await api(`/incidents/${encodeURIComponent(id)}/snapshot`);
        if (!(blob instanceof Blob) || !blob.type.startsWith('image/')) throw new Error('no image');
        put(snapshot, el('h3', {}, 'Snapshot'), el('img', { id: 'detail-snapshot', src: URL.createObjectURL(blob), alt: `snapshot of ${id}` }));
      } catch {
        put(snapshot, el('p', { class: 'muted' }, 'The snapshot could not be loaded.'));
      }
    }
  }

  /** Who was told (the delivery ledger, issue 12): shown when the detail carries it. */
  function renderDeliveries(d) {
    const section = el('section', { id: 'detail-deliveries', class: 'deliveries' }, el('h3', {}, 'Who was told'));
    if (!('deliveries' in d) && !('escalation' in d)) {
      section.append(el('p', { class: 'muted', id: 'deliveries-unavailable' }, 'Not available: this gateway does not track deliveries to people yet.'));
      return section;
    }
    const x = d.escalation;
    section.append(
      x
        ? el('p', { id: 'detail-escalation' }, joinParts(`Escalation ${words(x.state)}`, x.steps ? `step ${x.next_step ?? x.steps} of ${x.steps}` : null, x.next_at && x.state === 'running' ? `next ${ago(x.next_at)}` : null, x.next_notify?.length ? `then ${x.next_notify.join(', ')}` : null))
        : el('p', { id: 'detail-escalation', class: 'muted' }, 'No escalation for this incident.'),
    );
    const list = d.deliveries || [];
    // The monitoring station (issue 13): which path took the alarm, and when its receiver acknowledged it.
    for (const r of list.filter((x) => x.channel === 'arc')) {
      section.append(
        el('p', { class: `station state-${r.state}`, 'data-station': r.state },
          joinParts(`Monitoring station${r.receipt?.restore ? ' (restore)' : ''}: ${words(r.state)}`, r.receipt?.path ? `${r.receipt.path} path ${r.receipt.receiver ?? ''}` : null, r.receipt?.code ? `${r.receipt.code} zone ${r.receipt.zone}` : null, r.error ?? null),
          r.receipt?.acknowledged_at ? el('span', {}, ' · ACK ', timeEl(r.receipt.acknowledged_at)) : null),
      );
    }
    section.append(
      list.length
        ? el('div', { class: 'table-wrap' },
            el('table', { id: 'detail-delivery-table' },
              el('tr', {}, el('th', {}, 'Who'), el('th', {}, 'Channel'), el('th', {}, 'State'), el('th', {}, 'When')),
              ...list.map((r) => el('tr', {}, el('td', {}, r.contact ?? r.contact_id ?? '—'), el('td', {}, words(r.channel ?? '—')), el('td', { class: `state-${r.state}` }, words(r.state), r.error ? el('small', {}, ` ${r.error}`) : null), el('td', {}, timeEl(r.receipt_at ?? r.updated_at ?? r.created_at)))),
            ),
          )
        : el('p', { class: 'muted' }, 'Nobody has been told yet.'),
    );
    return section;
  }

  // ------------------------------------------------------------------ analysis
  const charts = {};
  function plot(name, target, opts, data) {
    charts[name]?.destroy();
    const width = Math.max(300, target.clientWidth || 500);
    charts[name] = new uPlot({ width, height: 240, ...opts }, data, target);
  }
  async function loadAnalysis() {
    const hours = Number($('#range').value);
    const to = new Date();
    const from = new Date(to.getTime() - hours * 3600_000);
    const bucket = hours <= 24 ? '1h' : hours <= 168 ? '6h' : '1d';
    const offset = -to.getTimezoneOffset();
    const q = `from=${from.toISOString()}&to=${to.toISOString()}`;
    const [a, t] = await Promise.all([api(`/api/analysis?${q}&utc_offset_min=${offset}`), api(`/api/timelapse?${q}&bucket=${bucket}`)]);
    const pctText = (p) => (p === null ? 'n/a' : `${p > 0 ? '+' : ''}${p}%`);
    put($('#kpis'), 
      el('div', { class: 'kpi' }, 'Incidents', el('b', {}, a.total), el('small', {}, `${pctText(a.trend.total_pct)} vs previous`)),
      ...['CRITICAL', 'HIGH'].map((l) => el('div', { class: 'kpi' }, l, el('b', { style: `color:${COLORS[l]}` }, a.levels[l]), el('small', {}, pctText(a.trend.levels[l])))),
      el('div', { class: 'kpi' }, 'Weapons', el('b', {}, a.weapons)),
      el('div', { class: 'kpi' }, 'False-alarm rate', el('b', {}, a.false_alarms.rate === null ? '—' : `${Math.round(a.false_alarms.rate * 100)}%`), el('small', {}, `${a.false_alarms.labelled} labelled`)),
    );
    const xs = t.buckets.map((b) => Date.parse(b.t) / 1000);
    const series = [{}].concat(LEVELS.map((l) => ({ label: l, stroke: COLORS[l], width: 2, points: { show: false } })));
    const axes = [{ stroke: '#8b98a5', grid: { stroke: '#2c3640' } }, { stroke: '#8b98a5', grid: { stroke: '#2c3640' } }];
    plot('timelapse', $('#chart-timelapse'), { series, axes }, [xs, ...LEVELS.map((l) => t.buckets.map((b) => b.levels[l]))]);
    const hx = a.hour_of_day.hours.map((h) => h.hour);
    const bars = uPlot.paths.bars({ size: [0.8, 40] });
    plot(
      'hours',
      $('#chart-hours'),
      {
        scales: { x: { time: false } },
        axes: [{ ...axes[0], incrs: [1, 2, 3, 6], values: (_u, ticks) => ticks.map((t) => `${t}h`) }, axes[1]],
        series: [{ label: 'hour' }, { label: 'incidents', stroke: '#58a6ff', fill: 'rgba(88,166,255,0.4)', paths: bars, points: { show: false } }],
      },
      [hx, a.hour_of_day.hours.map((h) => h.total)],
    );
    const table = (sel, head, rows) =>
      $(sel).replaceChildren(el('tr', {}, ...head.map((h) => el('th', {}, h))), ...rows.map((r) => el('tr', {}, ...r.map((c) => el('td', {}, c)))));
    table('#zones-table', ['Zone', 'Incidents', 'HIGH+', 'Risk index'], a.zones.map((z) => [z.name || z.zone, z.total, z.levels.HIGH + z.levels.CRITICAL, two(z.risk_index)]));
    table('#cameras-table', ['Camera', 'Zone', 'Incidents', 'Mean score', 'Risk index'], a.cameras.map((c) => [c.camera_id || '—', c.zone ?? '—', c.total, pct(c.mean_score), two(c.risk_index)]));
    table('#behaviours-table', ['Behaviour', 'Incidents'], a.behaviours.map((b) => [b.value, b.count]));
    table('#weapons-table', ['Family', 'Incidents'], a.weapon_families.map((b) => [b.value, b.count]));
  }
  $('#refresh-analysis').addEventListener('click', loadAnalysis);
  $('#range').addEventListener('change', loadAnalysis);

  // ------------------------------------------------------------------ site map
  async function loadMap() {
    const site = await api('/api/site');
    const placed = site.zones.filter((z) => z.x !== null && z.y !== null);
    const svg = $('#site-map');
    const ns = 'http://www.w3.org/2000/svg';
    const s = (tag, attrs, text) => {
      const e = document.createElementNS(ns, tag);
      for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
      if (text) e.textContent = text;
      return e;
    };
    const xs = placed.map((z) => z.x), ys = placed.map((z) => z.y);
    const minX = Math.min(...xs, 0), maxX = Math.max(...xs, 1), minY = Math.min(...ys, 0), maxY = Math.max(...ys, 1);
    const pad = 18; // room for the exit labels beside the outer zones
    svg.setAttribute('viewBox', `${minX - pad} ${minY - pad} ${maxX - minX + 2 * pad} ${maxY - minY + 2 * pad}`);
    const pos = new Map(placed.map((z) => [z.id, z]));
    put(svg);
    for (const l of site.links) {
      const a = pos.get(l.from), b = pos.get(l.to);
      if (a && b) svg.append(s('line', { class: 'link', x1: a.x, y1: a.y, x2: b.x, y2: b.y }));
    }
    const select = $('#route-from');
    const current = select.value;
    put(select, ...site.zones.map((z) => el('option', { value: z.id }, z.name)));
    if (current) select.value = current;
    nav.svg = svg;
    nav.pos = pos;
    nav.mark = s;
    if (site.exits.length && select.value) {
      // The route comes live over /ws/navigation: it moves when a threat appears or clears.
      if (nav.last && nav.last.from === select.value) drawRoute(nav.last);
      followRoute(select.value);
    } else {
      put($('#route'), el('p', { class: 'muted' }, 'No site map with exits is configured (site.map).'));
    }
    // Only open incidents are active threats; acknowledged or false-alarm ones are "being handled"
    // (the server's safe route still avoids them until they are resolved).
    const known = (t) => state.incidents.get(t.incident_id);
    const isOpen = (t) => !known(t) || stateOf(known(t)) === 'open';
    const openThreats = site.active.filter(isOpen), handled = site.active.filter((t) => !isOpen(t));
    const rank = (l) => LEVELS.indexOf(l);
    const zoneLevel = new Map();
    for (const t of openThreats) if (t.zone && rank(t.threat_level) > rank(zoneLevel.get(t.zone) ?? 'LOW')) zoneLevel.set(t.zone, t.threat_level);
    const handledZones = new Set(handled.map((t) => t.zone));
    for (const z of placed) {
      const lvl = zoneLevel.get(z.id);
      const cls = lvl && lvl !== 'LOW' ? ` t-${lvl}` : handledZones.has(z.id) ? ' handled' : '';
      svg.append(s('circle', { class: `zone${cls}`, cx: z.x, cy: z.y, r: 6, 'data-zone': z.id }));
      svg.append(s('text', { x: z.x, y: z.y + 10 }, z.name));
    }
    for (const e of site.exits) {
      const z = pos.get(e.zone);
      if (z) {
        svg.append(s('rect', { class: 'exit', x: z.x + 5, y: z.y - 7, width: 4, height: 4 }));
        svg.append(s('text', { x: z.x + 7, y: z.y - 8 }, e.name || e.id));
      }
    }
    const threatItem = (t) => el('li', { 'data-id': t.incident_id, class: `is-${known(t) ? stateOf(known(t)) : 'open'}` }, el('span', { class: `badge lvl-${t.threat_level}` }, t.threat_level), ' ', joinParts(t.zone ?? t.camera_id, t.incident_id), known(t) && !isOpen(t) ? el('span', { class: 'st' }, STATE_WORDS[stateOf(known(t))]) : null);
    put($('#active-threats'),
      el('h3', {}, 'Active threats'),
      openThreats.length ? el('ul', { id: 'active-list' }, ...openThreats.map(threatItem)) : el('p', { class: 'muted', id: 'active-list' }, 'None.'),
      handled.length ? el('h3', {}, 'Being handled') : null,
      handled.length ? el('ul', { id: 'handled-list' }, ...handled.map(threatItem)) : null,
      handled.length ? el('p', { class: 'muted' }, 'The safe route keeps avoiding these zones until the incident is resolved.') : null,
    );
  }
  $('#route-from').addEventListener('change', loadMap);

  // The live safe route: the same answers as GET /api/routes, pushed on every change.
  const nav = { ws: null, from: null, retry: 0, last: null, svg: null, pos: null, mark: null };
  function followRoute(from) {
    nav.from = from;
    if (nav.ws) {
      if (nav.ws.readyState === 1) nav.ws.send(JSON.stringify({ type: 'from', from }));
      return; // still connecting: onopen asks for the latest origin
    }
    const q = new URLSearchParams({ access_token: state.token, from });
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws/navigation?${q}`);
    nav.ws = ws;
    ws.onopen = () => {
      nav.retry = 0;
      if (nav.from !== from) ws.send(JSON.stringify({ type: 'from', from: nav.from }));
    };
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.type === 'route' && m.from === nav.from) drawRoute(m);
    };
    ws.onclose = () => {
      if (nav.ws !== ws) return;
      nav.ws = null;
      // Reconnecting gets the current route at once.
      if (state.token && state.view === 'map') setTimeout(() => nav.ws || followRoute(nav.from), Math.min(5000, 250 * 2 ** nav.retry++));
    };
    ws.onerror = () => ws.close();
  }
  function stopRoute() {
    const ws = nav.ws;
    nav.ws = null;
    if (ws) ws.close();
  }
  function drawRoute(m) {
    nav.last = m;
    const svg = nav.svg;
    for (const old of svg.querySelectorAll('polyline.route')) old.remove();
    const route = m.route;
    if (m.status === 200 && route) {
      put($('#route'),
        el('p', { class: 'route-ok', id: 'route-summary', 'data-reason': m.reason }, `Use the ${route.exit.name} (${route.distance_m} m)`),
        el('p', {}, route.path.join(' → ')),
        route.avoided_zones.length ? el('p', { class: 'muted' }, `Avoiding ${route.avoided_zones.join(', ')}`) : null,
        route.police_station ? el('p', { class: 'muted' }, `Police: ${route.police_station.name} ${route.police_station.address}`) : null,
      );
      const pts = route.path.map((z) => nav.pos.get(z)).filter(Boolean).map((z) => `${z.x},${z.y}`).join(' ');
      // Under the zones' circles, over the links.
      svg.insertBefore(nav.mark('polyline', { class: 'route', points: pts }), svg.querySelector('circle'));
    } else {
      put($('#route'), el('p', { class: 'route-none', id: 'route-summary', 'data-reason': m.reason }, m.error?.code === 'NO_SAFE_ROUTE' ? 'No safe exit: shelter in place.' : (m.error?.message ?? 'No route.')));
    }
  }

  // ------------------------------------------------------------------ system health
  const COMPONENT_NAMES = {
    broker: 'MQTT broker', store: 'Database', db: 'Database', model: 'Re-scoring model', pipeline: 'Report pipeline', http: 'HTTP API', sync: 'Upstream sync', automation: 'Automation (Node-RED)',
    scoring: 'Re-scoring model', evidence: 'Snapshots and image model', operations: 'Site operations', navigation: 'Safe routes',
    ai: 'AI opinion', metrics: 'Metrics', arming: 'Arming', notify: 'Notifications', incidents: 'Incidents', arc: 'Monitoring station',
  };
  const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;
  /** A health value in words: yes/no, none, lists, relative times, 2 decimals. */
  function valueWords(v) {
    if (v === null || v === undefined) return '—';
    if (typeof v === 'boolean') return v ? 'yes' : 'no';
    if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(2);
    if (typeof v === 'string') return ISO.test(v) ? timeEl(v) : v;
    if (Array.isArray(v)) return v.length === 0 ? 'none' : v.map((x) => (typeof x === 'object' && x ? JSON.stringify(x) : String(x))).join(', ');
    const entries = Object.entries(v);
    if (entries.length === 0) return 'none';
    return el('dl', { class: 'sub' }, ...entries.flatMap(([k, x]) => [el('dt', {}, words(k)), el('dd', {}, valueWords(x))]));
  }
  function renderHealth() {
    const h = state.health;
    const box = $('#health');
    if (!h) return put(box, el('p', { class: 'muted' }, 'Waiting for the first health report…'));
    const cls = (s) => (s === 'healthy' || s === 'up' ? 'up' : s === 'degraded' ? 'degraded' : 'down');
    put(box,
      el('div', { class: `card ${cls(h.status)}` }, el('h3', {}, 'Gateway'), el('dl', {}, el('dt', {}, 'Status'), el('dd', {}, h.status), el('dt', {}, 'Reported'), el('dd', {}, timeEl(h.at)))),
      ...Object.entries(h.components).map(([name, c]) =>
        el('div', { class: `card ${cls(c.status)}`, 'data-component': name },
          el('h3', {}, COMPONENT_NAMES[name] ?? words(name)),
          el('dl', {}, ...Object.entries(c).flatMap(([k, v]) => [el('dt', {}, words(k)), el('dd', {}, valueWords(v))]))),
      ),
    );
  }

  // ------------------------------------------------------------------ arming (issue 14)
  const ARMING_MODES = { disarmed: 'Disarmed', armed_home: 'Armed · home', armed_away: 'Armed · away', armed_night: 'Armed · night', armed_vacation: 'Armed · vacation' };
  /** Arming exists when the gateway reports its health component; no request that could 404. */
  async function loadArming() {
    if (!state.health) return;
    if (!state.health.components.arming) {
      state.arming = false;
      return renderArming();
    }
    try {
      state.arming = await api('/arming');
    } catch (err) {
      state.arming = { error: err.message };
    }
    renderArming();
  }
  function renderArming() {
    const box = $('#arming');
    if (state.arming === false) return put(box, el('span', { id: 'arming-unavailable', class: 'muted' }, 'Arming: not available on this gateway'));
    if (!state.arming) return put(box, el('span', { class: 'muted' }, 'Arming…'));
    if (state.arming.error) return put(box, el('span', { class: 'error' }, `Arming: ${state.arming.error}`));
    const a = state.arming;
    const sel = el('select', { id: 'arming-mode', 'aria-label': 'Arming mode' }, ...Object.entries(ARMING_MODES).map(([k, v]) => el('option', { value: k, selected: k === a.mode }, v)));
    sel.addEventListener('change', async () => {
      sel.disabled = true;
      try {
        const r = await api('/arming', { method: 'PUT', body: JSON.stringify({ mode: sel.value, by: state.operator, via: 'dashboard' }) });
        state.arming = r.arming;
      } catch (err) {
        announce(`Arming not changed: ${err.message}`);
      }
      renderArming();
    });
    put(box, el('label', { class: `arming m-${a.mode}` }, 'Mode ', sel), el('small', { id: 'arming-since' }, joinParts(a.by ? `by ${a.by}` : null, a.since ? ago(a.since) : null)));
  }

  // ------------------------------------------------------------------ start
  function start() {
    $('#login').hidden = true;
    $('#app').hidden = false;
    if (!state.ws) connect();
    renderArming();
    show(state.view);
  }
  if (state.token) {
    fetch('/api/login', { method: 'POST', headers: { authorization: `Bearer ${state.token}` } }).then(async (r) => {
      if (!r.ok) return logout('');
      $('#site').textContent = joinParts((await r.json()).site_id, state.operator);
      // A reload has had no gesture yet: the sound waits for the first click or key.
      unlockAudio();
      start();
    });
  }
})();
