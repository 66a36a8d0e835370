// The instructor's board: seats x checks, live from the server's events;
// a reset per seat (to right after up, or to a stage), a snapshot of every
// seat at a stage. Names and hints come from students and lab files: text
// only, never markup.
'use strict';
(() => {
  const head = document.querySelector('#grid thead');
  const body = document.querySelector('#grid tbody');
  const live = document.getElementById('live');
  let stages = [];

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  async function post(path, params) {
    const r = await fetch(path, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'X-Labctl': '1', 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(text);
    return text;
  }

  function render(st) {
    stages = st.stages;
    const r1 = el('tr'), r2 = el('tr'), tot = el('tr', 'totals');
    r1.append(el('th', '', 'seat'), el('th', '', 'student'), el('th', '', 'status'));
    r2.append(el('th'), el('th'), el('th'));
    tot.append(el('th', '', 'passed / failed'), el('th'), el('th'));
    for (const l of st.labs) {
      const g = el('th', 'lab', l.name);
      g.colSpan = l.checks.length;
      r1.append(g);
      l.checks.forEach((c, i) => {
        r2.append(el('th', 'check', c));
        const t = el('td', l.failed[i] ? 'stuck' : '', `${l.passed[i]} / ${l.failed[i]}`);
        tot.append(t);
      });
    }
    r1.append(el('th', '', 'actions'));
    r2.append(el('th'));
    tot.append(el('td'));
    head.replaceChildren(r1, r2, tot);
    const rows = [];
    for (const s of st.seats) {
      const tr = el('tr');
      tr.dataset.seat = s.seat;
      tr.dataset.status = s.status;
      const status = s.busy ? `${s.status} (${s.busy})` : s.status;
      tr.append(el('td', '', String(s.seat)), el('td', 'student', s.student), el('td', 'status ' + (s.status === 'ready' ? 'ok' : 'bad'), status));
      for (const l of st.labs) {
        (s.cells[l.name] || []).forEach((c, i) => {
          const td = el('td', 'cell ' + c, c);
          td.dataset.check = `${l.name}: ${l.checks[i]}`;
          const hint = (s.hints && s.hints[l.name] || [])[i];
          if (hint) td.title = hint;
          tr.append(td);
        });
      }
      const act = el('td', 'actions');
      const sel = el('select');
      sel.append(new Option('right after up', ''));
      for (const g of stages) sel.append(new Option('stage ' + g, g));
      const btn = el('button', 'reset', 'reset');
      btn.type = 'button';
      btn.disabled = s.status === 'resetting';
      btn.addEventListener('click', async () => {
        const to = sel.value ? `stage ${sel.value}` : 'right after up';
        if (!confirm(`Reset seat ${s.seat} to ${to}? What the student did since is gone.`)) return;
        btn.disabled = true;
        try { await post('/board/reset', { seat: s.seat, stage: sel.value }); } catch (e) { alert(e.message); btn.disabled = false; }
      });
      act.append(sel, btn);
      tr.append(act);
      rows.push(tr);
    }
    body.replaceChildren(...rows);
    live.textContent = 'live · ' + new Date(st.updated).toLocaleTimeString();
  }

  function listen() {
    const es = new EventSource('/board/events');
    es.addEventListener('board', (ev) => {
      live.dataset.state = 'live';
      render(JSON.parse(ev.data));
    });
    es.onerror = () => {
      live.dataset.state = 'reconnecting';
      live.textContent = 'connection lost: reconnecting…';
    };
  }
  listen();

  const snap = document.getElementById('snapshot');
  snap.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const msg = snap.querySelector('.msg');
    msg.textContent = 'taking every seat\'s snapshot…';
    try { msg.textContent = await post('/board/snapshot', { stage: snap.stage.value }); } catch (e) { msg.textContent = e.message; }
  });
})();
