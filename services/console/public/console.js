// TeamTalk web console: plain JavaScript, no build step. It polls the
// console's JSON API and draws the tables and charts; every value from the
// cluster goes into the page as text (textContent), never as markup.
'use strict';

(() => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  const $ = (selector) => document.querySelector(selector);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else if (key === 'dataset') Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  async function getJson(path) {
    const res = await fetch(path, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    if (res.status === 401) {
      window.location.assign('/signin');
      throw new Error('signed out');
    }
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
    return body;
  }

  async function post(path, body) {
    const res = await fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf, Accept: 'application/json' },
      body: JSON.stringify(body),
    });
    const answer = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(answer.error || `HTTP ${res.status}`);
    return answer;
  }

  function notice(text, ok = true) {
    const p = $('#notice');
    p.textContent = text;
    p.className = ok ? 'ok' : 'failed';
  }

  async function act(description, path, body) {
    try {
      const answer = await post(path, body);
      notice(`${description}: done`);
      void refreshActions();
      return answer;
    } catch (err) {
      notice(`${description}: ${err.message}`, false);
      void refreshActions();
      return null;
    }
  }

  // ---- cluster ----

  function levelSelect(service) {
    const current = service.status ? service.status.logLevel : null;
    const select = el('select', { class: 'log-level', 'aria-label': `log level of ${service.name}`, disabled: !service.up, dataset: { url: service.url } });
    for (const level of LEVELS) select.append(el('option', { value: level, selected: level === current }, level));
    select.addEventListener('change', () => act(`log level of ${service.name} to ${select.value}`, '/api/log-level', { url: service.url, level: select.value }));
    return select;
  }

  /** Replaces a row's cells unless the operator is using one of its controls. */
  function upsertRow(tbody, key, cells) {
    let row = tbody.querySelector(`tr[data-url="${CSS.escape(key)}"]`);
    if (row === null) {
      row = el('tr', { dataset: { url: key } });
      tbody.append(row);
    }
    if (row.contains(document.activeElement)) return row;
    row.replaceChildren(...cells.map((c) => (c instanceof Node && c.tagName === 'TD' ? c : el('td', {}, c))));
    return row;
  }

  function pruneRows(tbody, keys) {
    for (const row of [...tbody.querySelectorAll('tr[data-url]')]) if (!keys.has(row.dataset.url)) row.remove();
  }

  function linkSummary(status) {
    if (!status || !status.links) return '';
    const parts = [];
    const count = (name, list) => {
      const up = list.filter((l) => l.up).length;
      parts.push(`${name} ${up}/${list.length}`);
    };
    count('login', status.links.loginServers);
    count('route', status.links.routeServers);
    count('db', status.links.dbProxies);
    return parts.join(', ');
  }

  function renderMsgServers(list) {
    const tbody = $('#msg-servers tbody');
    const keys = new Set();
    for (const m of list) {
      keys.add(m.url);
      const state = m.status ? m.status.state : m.up ? m.listed : 'unreachable';
      const draining = state !== 'active';
      const drainButton = el(
        'button',
        {
          class: 'drain',
          disabled: !m.up || draining,
          onclick: () => {
            if (window.confirm(`Drain ${m.name}? Its clients move to the other msg servers and it stops.`)) void act(`drain ${m.name}`, '/api/drain', { url: m.url });
          },
        },
        'Drain',
      );
      const row = upsertRow(tbody, m.url, [
        m.name,
        m.address,
        el('td', { class: `state state-${state}` }, state),
        m.status ? m.status.onlineUsers : '–',
        `${m.cur}/${m.max}`,
        m.up ? linkSummary(m.status) : m.error,
        levelSelect(m),
        drainButton,
      ]);
      row.dataset.name = m.name;
      row.dataset.state = state;
    }
    pruneRows(tbody, keys);
  }

  function details(s) {
    if (!s.status) return s.error || '';
    const st = s.status;
    if (s.kind === 'route-server') return `${st.users} users online, ${st.links.length} msg server links`;
    if (s.kind === 'db-proxy') return `MySQL ${st.mysql}, Redis ${st.redis}, ${st.msgServerConnections} links, ${st.inFlight} requests in flight`;
    if (s.kind === 'login-server') return `${st.msgServers} msg servers, ${st.users} users`;
    return '';
  }

  function renderServices(overview) {
    const tbody = $('#services tbody');
    const all = [...overview.routeServers, ...overview.dbProxies, ...overview.loginServers];
    const keys = new Set();
    for (const s of all) {
      keys.add(s.url);
      const row = upsertRow(tbody, s.url, [s.kind, s.url, el('td', { class: s.up ? 'up' : 'down' }, s.up ? 'up' : 'down'), details(s), levelSelect(s)]);
      row.dataset.kind = s.kind;
    }
    pruneRows(tbody, keys);
  }

  async function refreshOverview() {
    try {
      const overview = await getJson('/api/overview');
      renderMsgServers(overview.msgServers);
      renderServices(overview);
      $('#online-count').textContent = String(overview.onlineUsers);
      $('#updated').textContent = `updated ${new Date(overview.at).toLocaleTimeString()}`;
    } catch (err) {
      $('#updated').textContent = `not updated: ${err.message}`;
    }
  }

  // ---- charts ----

  function drawChart(svg, points, series) {
    const width = 600;
    const height = 140;
    const pad = 24;
    const values = points.flatMap((p) => series.map((s) => p[s.key]).filter((v) => v !== null));
    const max = Math.max(1, ...values);
    const t0 = points.length > 0 ? points[0].t : 0;
    const t1 = points.length > 1 ? points[points.length - 1].t : t0 + 1;
    const x = (t) => pad + ((t - t0) / (t1 - t0 || 1)) * (width - 2 * pad);
    const y = (v) => height - pad - (v / max) * (height - 2 * pad);
    const ns = 'http://www.w3.org/2000/svg';
    const node = (tag, attrs) => {
      const n = document.createElementNS(ns, tag);
      for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
      return n;
    };
    const children = [node('line', { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, class: 'axis' })];
    const label = node('text', { x: 2, y: pad - 8, class: 'label' });
    label.textContent = `max ${Math.round(max * 10) / 10}`;
    children.push(label);
    for (const s of series) {
      const shown = points.filter((p) => p[s.key] !== null);
      const line = node('polyline', { points: shown.map((p) => `${x(p.t).toFixed(1)},${y(p[s.key]).toFixed(1)}`).join(' '), class: `line ${s.cls}` });
      line.dataset.points = String(shown.length);
      children.push(line);
      // Dots too: a lone sample between quiet ones has no line to show it.
      for (const p of shown) children.push(node('circle', { cx: x(p.t).toFixed(1), cy: y(p[s.key]).toFixed(1), r: 2.5, class: `dot ${s.cls}` }));
    }
    svg.replaceChildren(...children);
  }

  async function refreshCharts() {
    try {
      const { points } = await getJson('/api/series');
      drawChart($('#chart-rate'), points, [{ key: 'messagesPerSecond', cls: 'rate' }]);
      drawChart($('#chart-latency'), points, [
        { key: 'storeP50Ms', cls: 'p50' },
        { key: 'storeP99Ms', cls: 'p99' },
      ]);
    } catch {
      // The next poll tries again.
    }
  }

  // ---- users ----

  async function searchUsers(q) {
    const tbody = $('#user-results tbody');
    try {
      const { users, errors } = await getJson(`/api/users?q=${encodeURIComponent(q)}`);
      tbody.replaceChildren();
      for (const u of users) {
        const devices = u.devices.map((d) => `${d.clientType} ${d.peer}`).join('; ');
        const kick = el(
          'button',
          {
            class: 'kick',
            onclick: async () => {
              if (!window.confirm(`Kick ${u.name} off every device?`)) return;
              await act(`kick ${u.name}`, '/api/kick', { user: u.name });
              void searchUsers(q);
            },
          },
          'Kick',
        );
        tbody.append(el('tr', { dataset: { user: u.name } }, el('td', {}, u.name), el('td', {}, u.userId), el('td', {}, `${u.msgServer.name} (${u.msgServer.address})`), el('td', { class: 'devices' }, devices), el('td', {}, kick)));
      }
      if (users.length === 0) tbody.append(el('tr', { class: 'empty' }, el('td', { colspan: 5 }, q ? `nobody online matches "${q}"` : 'nobody is online')));
      if (errors.length > 0) notice(`some msg servers did not answer: ${errors.join('; ')}`, false);
    } catch (err) {
      notice(`search failed: ${err.message}`, false);
    }
  }

  // ---- warnings and actions ----

  async function refreshWarnings() {
    try {
      const { warnings } = await getJson('/api/warnings');
      $('#warnings').replaceChildren(
        ...warnings.map((w) => {
          const fields = Object.entries(w.fields).map(([k, v]) => `${k}=${v}`).join(' ');
          return el('li', { class: `level-${w.level}` }, el('time', {}, new Date(w.time).toLocaleTimeString()), ` ${w.kind} ${w.service} ${w.level.toUpperCase()} ${w.msg} `, el('span', { class: 'fields' }, fields));
        }),
      );
    } catch {
      // The next poll tries again.
    }
  }

  async function refreshActions() {
    try {
      const { actions } = await getJson('/api/actions');
      $('#actions').replaceChildren(
        ...actions.map((a) =>
          el('li', { class: a.ok ? 'ok' : 'failed' }, el('time', {}, new Date(a.time).toLocaleTimeString()), ` ${a.operator} (${a.address}): ${a.action} ${a.target}: ${a.ok ? '' : 'FAILED '}${a.detail}`),
        ),
      );
    } catch {
      // The next poll tries again.
    }
  }

  // ---- wiring ----

  $('#user-search').addEventListener('submit', (e) => {
    e.preventDefault();
    void searchUsers($('#user-query').value.trim());
  });
  $('#account-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const action = e.submitter && e.submitter.value === 'enable' ? 'enable' : 'disable';
    const name = $('#account-name').value.trim();
    if (name !== '') void act(`${action} account ${name}`, '/api/accounts', { name, action });
  });

  const every = (ms, fn) => {
    void fn();
    setInterval(() => void fn(), ms);
  };
  every(3000, refreshOverview);
  every(2000, refreshCharts);
  every(5000, refreshWarnings);
  every(5000, refreshActions);
  void searchUsers('');
})();
