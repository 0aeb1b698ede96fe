// SafeSphere Edge operator dashboard. Plain browser JavaScript, no build step, no CDN:
// everything is served by the gateway. Charts: uPlot (vendored from npm, /dashboard/vendor/).
'use strict';
(() => {
  const LEVELS = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'];
  const COLORS = { LOW: '#3fb950', MEDIUM: '#d29922', HIGH: '#f0883e', CRITICAL: '#f85149' };
  const $ = (sel) => document.querySelector(sel);
  const el = (tag, attrs = {}, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined) e.setAttribute(k, v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
    return e;
  };
  // replaceChildren() would print a null child as the text "null": drop the empty ones.
  const put = (node, ...kids) => node.replaceChildren(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false));
  const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString() : '');

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

  // ------------------------------------------------------------------ login
  $('#login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    state.token = $('#login-token').value.trim();
    state.operator = $('#login-name').value.trim() || 'operator';
    try {
      const res = await fetch('/api/login', { method: 'POST', headers: { authorization: `Bearer ${state.token}` } });
      if (!res.ok) throw new Error(res.status === 401 ? 'That token is not valid.' : `Login failed (${res.status}).`);
      const body = await res.json();
      sessionStorage.setItem('ss.token', state.token);
      sessionStorage.setItem('ss.operator', state.operator);
      $('#site').textContent = `· ${body.site_id} · ${state.operator}`;
      start();
    } catch (err) {
      $('#login-error').textContent = err.message;
    }
  });
  $('#logout').addEventListener('click', () => logout(''));
  function logout(message) {
    sessionStorage.removeItem('ss.token');
    state.token = null;
    if (state.ws) state.ws.close();
    stopRoute();
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
    for (const b of document.querySelectorAll('nav button')) b.classList.toggle('active', b.dataset.view === view);
    for (const s of document.querySelectorAll('.view')) s.hidden = s.id !== `view-${view}`;
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
        if (state.view === 'system') renderHealth();
        break;
      case 'notice':
        console.warn('feed notice', m);
        break;
      case 'incident': {
        const e = entry(m.incident_id);
        e.incident = { ...m.data, zone: m.zone };
        // Only what happens while the page watches flashes; a replay or catch-up does not.
        addToTimeline(m.incident_id, m.seq > (state.helloHead ?? 0));
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
        break;
      }
      case 'status': {
        const e = entry(m.incident_id);
        e.status = m.data;
        renderRow(m.incident_id);
        break;
      }
      case 'arming':
        showArming(m.data);
        break;
      default:
        break;
    }
    if (m.seq) advance(m.seq);
    if (m.incident_id && m.incident_id === state.selected && ['action', 'label', 'status'].includes(m.type)) scheduleDetail();
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
    const li = el('li', { 'data-id': id, onclick: () => select(id) });
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
    li.dataset.level = i.threat_level;
    li.hidden = !levelFilter().has(i.threat_level);
    li.classList.toggle('selected', state.selected === id);
    const last = e.labels[e.labels.length - 1];
    put(li, 
      el('span', { class: `bar lvl-${i.threat_level}` }),
      el(
        'div',
        {},
        el('div', {}, el('span', { class: `badge lvl-${i.threat_level}` }, i.threat_level), ' ', el('b', {}, i.incident_id)),
        el('div', { class: 'meta' }, `${fmtTime(i.created_at)} · ${i.camera_id ?? 'no camera'}${i.zone ? ` · ${i.zone}` : ''} · ${i.behavior_summary ?? ''}`),
      ),
      el(
        'div',
        {},
        e.status ? el('span', { class: 'st' }, e.status.state) : null,
        last ? el('span', { class: 'st' }, last.label.replace('_', ' ')) : null,
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
    loadDetail(id);
  }

  async function loadDetail(id) {
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
    const label = async (value) => {
      await api(`/incidents/${encodeURIComponent(id)}/label`, { method: 'POST', body: JSON.stringify({ label: value, by: state.operator }) });
      loadDetail(id);
    };
    const status = async (action) => {
      await api(`/incidents/${encodeURIComponent(id)}/${action}`, { method: 'POST', body: JSON.stringify({ by: state.operator, via: 'dashboard' }) });
      loadDetail(id);
    };
    const snapshot = el('div', { class: 'snapshot' }, el('p', { class: 'muted' }, 'Loading snapshot…'));
    const box = $('#detail');
    put(box, 
      el('h2', {}, el('span', { class: `badge lvl-${d.threat_level}` }, d.threat_level), ' ', d.incident_id),
      el(
        'div',
        { class: 'buttons' },
        el('button', { id: 'btn-confirm', onclick: () => label('confirmed') }, 'Confirm'),
        el('button', { id: 'btn-false-alarm', onclick: () => label('false_alarm') }, 'False alarm'),
        el('button', { id: 'btn-ack', onclick: () => status('acknowledge'), disabled: d.operator_status ? '' : null }, 'Acknowledge'),
        el('button', { id: 'btn-resolve', onclick: () => status('resolve'), disabled: d.operator_status?.state === 'resolved' ? '' : null }, 'Resolve'),
      ),
      el(
        'dl',
        {},
        el('dt', {}, 'Status'),
        el('dd', { id: 'detail-status' }, d.operator_status ? `${d.operator_status.state} by ${d.operator_status.resolved_by ?? d.operator_status.acknowledged_by}` : 'open'),
        el('dt', {}, 'Score'),
        el('dd', {}, `${d.threat_score} (camera said ${d.reported_level} ${d.reported_score})${d.model_version ? ` · model ${d.model_version}` : ''}`),
        el('dt', {}, 'Camera'),
        el('dd', {}, `${d.camera_id ?? '—'}${d.zone ? ` · zone ${d.zone}` : ''}`),
        el('dt', {}, 'Received'),
        el('dd', {}, fmtTime(d.created_at)),
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
      ai.length ? el('div', {}, el('h3', {}, 'AI annotation'), ...ai.map(([k, v]) => el('pre', {}, `${k}: ${typeof v === 'string' ? v : JSON.stringify(v, null, 2)}`))) : null,
      el('h3', {}, 'Actions'),
      el(
        'table',
        { id: 'detail-actions' },
        el('tr', {}, el('th', {}, 'action'), el('th', {}, 'state'), el('th', {}, 'attempts'), el('th', {}, 'result')),
        ...d.actions.map((a) => el('tr', {}, el('td', {}, a.action_type), el('td', { class: `state-${a.status}` }, a.status), el('td', {}, a.attempts ?? 0), el('td', {}, a.result ?? ''))),
      ),
      el('h3', {}, 'Labels'),
      d.labels.length
        ? el('ul', { id: 'detail-labels' }, ...d.labels.map((l) => el('li', {}, `${l.label.replace('_', ' ')} by ${l.by} · ${fmtTime(l.created_at)}`)))
        : el('p', { id: 'detail-labels', class: 'muted' }, 'No labels yet.'),
    );
    try {
      const blob = await api(`/incidents/${encodeURIComponent(id)}/snapshot`);
      if (!(blob instanceof Blob) || !blob.type.startsWith('image/')) throw new Error('no image');
      put(snapshot, el('h3', {}, 'Snapshot'), el('img', { id: 'detail-snapshot', src: URL.createObjectURL(blob), alt: `snapshot of ${id}` }));
    } catch {
      put(snapshot, el('p', { class: 'muted' }, 'No snapshot for this incident.'));
    }
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
    table('#zones-table', ['zone', 'incidents', 'HIGH+', 'risk index'], a.zones.map((z) => [z.name || z.zone, z.total, z.levels.HIGH + z.levels.CRITICAL, z.risk_index]));
    table('#cameras-table', ['camera', 'zone', 'incidents', 'mean score', 'risk index'], a.cameras.map((c) => [c.camera_id || '—', c.zone ?? '—', c.total, c.mean_score, c.risk_index]));
    table('#behaviours-table', ['behaviour', 'incidents'], a.behaviours.map((b) => [b.value, b.count]));
    table('#weapons-table', ['family', 'incidents'], a.weapon_families.map((b) => [b.value, b.count]));
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
    const pad = 12;
    svg.setAttribute('viewBox', `${minX - pad} ${minY - pad} ${maxX - minX + 2 * pad} ${maxY - minY + 2 * pad}`);
    const pos = new Map(placed.map((z) => [z.id, z]));
    put(svg, );
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
    for (const z of placed) {
      svg.append(s('circle', { class: `zone${z.threat ? ` t-${z.threat}` : ''}`, cx: z.x, cy: z.y, r: 6, 'data-zone': z.id }));
      svg.append(s('text', { x: z.x, y: z.y + 10 }, z.name));
    }
    for (const e of site.exits) {
      const z = pos.get(e.zone);
      if (z) {
        svg.append(s('rect', { class: 'exit', x: z.x + 5, y: z.y - 7, width: 4, height: 4 }));
        svg.append(s('text', { x: z.x + 7, y: z.y - 8 }, e.name || e.id));
      }
    }
    put($('#active-threats'), 
      el('h3', {}, 'Active threats'),
      site.active.length
        ? el('ul', {}, ...site.active.map((t) => el('li', {}, el('span', { class: `badge lvl-${t.threat_level}` }, t.threat_level), ` ${t.zone ?? t.camera_id ?? '?'} · ${t.incident_id}`)))
        : el('p', { class: 'muted' }, 'None.'),
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
  function renderHealth() {
    const h = state.health;
    const box = $('#health');
    if (!h) return put(box, el('p', { class: 'muted' }, 'Waiting for the first health report…'));
    const flat = (v) => (v === null || v === undefined ? '—' : typeof v === 'object' ? JSON.stringify(v) : String(v));
    put(box, 
      el('div', { class: `card ${h.status === 'healthy' ? 'up' : h.status === 'degraded' ? 'degraded' : 'down'}` }, el('h3', {}, 'Gateway'), el('dl', {}, el('dt', {}, 'status'), el('dd', {}, h.status), el('dt', {}, 'at'), el('dd', {}, fmtTime(h.at)))),
      ...Object.entries(h.components).map(([name, c]) =>
        el('div', { class: `card ${c.status}`, 'data-component': name }, el('h3', {}, name), el('dl', {}, ...Object.entries(c).flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, flat(v))]))),
      ),
    );
  }

  // ------------------------------------------------------------------ arming (a plain switch; PUT /arming)
  function showArming(a) {
    const select = $('#arming-mode');
    select.value = a.mode;
    select.title = `since ${fmtTime(a.since || a.at)} by ${a.by} via ${a.via}${a.override_until ? `, holds until ${fmtTime(a.override_until)}` : ''}`;
  }
  $('#arming-mode').addEventListener('change', async (e) => {
    const select = e.target;
    try {
      const res = await api('/arming', { method: 'PUT', body: JSON.stringify({ mode: select.value, by: state.operator, via: 'dashboard' }) });
      showArming(res.arming);
    } catch (err) {
      alert(`Arming not changed: ${err.message}`);
      api('/arming').then(showArming, () => {});
    }
  });

  // ------------------------------------------------------------------ start
  function start() {
    $('#login').hidden = true;
    $('#app').hidden = false;
    if (!state.ws) connect();
    show(state.view);
    api('/arming').then(showArming, () => {});
  }
  if (state.token) {
    fetch('/api/login', { method: 'POST', headers: { authorization: `Bearer ${state.token}` } }).then(async (r) => {
      if (!r.ok) return logout('');
      $('#site').textContent = `· ${(await r.json()).site_id} · ${state.operator}`;
      start();
    });
  }
})();
