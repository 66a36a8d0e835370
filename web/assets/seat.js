// A student's seat: a terminal per node over a WebSocket to the server,
// which keeps the shell (a dropped connection comes back to it), the
// labs' copy buttons and check buttons. Everything from the server is
// shown as text, never as markup.
'use strict';
(() => {
  const seat = document.body.dataset.seat;
  const enc = new TextEncoder();
  const terms = {};

  function status(box, state, text) {
    box.dataset.state = state;
    box.querySelector('.term-status').textContent = text;
  }

  function open(box) {
    const node = box.dataset.node;
    const term = new Terminal({ scrollback: 5000, cursorBlink: true, fontSize: 14 });
    const fit = new FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(box.querySelector('.xterm-host'));
    fit.fit();
    const t = { term, fit, ws: null, ended: false, tries: 0 };
    terms[node] = t;

    const connect = () => {
      t.ended = false;
      const q = new URLSearchParams({ cols: term.cols, rows: term.rows });
      const ws = new WebSocket(`wss://${location.host}/seat/${seat}/term/${encodeURIComponent(node)}?${q}`);
      ws.binaryType = 'arraybuffer';
      t.ws = ws;
      status(box, 'connecting', 'connecting…');
      ws.onmessage = (ev) => {
        if (typeof ev.data !== 'string') {
          term.write(new Uint8Array(ev.data));
          return;
        }
        const m = JSON.parse(ev.data);
        if (m.type === 'replay') {
          // The scrollback follows: it is all of the shell there is.
          term.reset();
          t.tries = 0;
          status(box, 'connected', '');
        } else if (m.type === 'ended') {
          t.ended = true;
          term.write(`\r\n[${m.why}: press Enter for a new shell]\r\n`);
          status(box, 'ended', m.why);
        }
      };
      ws.onclose = (ev) => {
        if (t.ws !== ws) return;
        if (t.ended) return;
        if (ev.code === 1008 || ev.code === 4403) {
          status(box, 'refused', 'refused: open the link on your card again');
          return;
        }
        const wait = Math.min(1000 * 2 ** t.tries, 5000);
        t.tries++;
        status(box, 'reconnecting', `connection lost: reconnecting… (your shell keeps running)`);
        setTimeout(connect, wait);
      };
    };
    term.onData((d) => {
      if (t.ended) {
        if (d === '\r') connect();
        return;
      }
      if (t.ws && t.ws.readyState === WebSocket.OPEN) t.ws.send(enc.encode(d));
    });
    term.onResize(({ cols, rows }) => {
      if (t.ws && t.ws.readyState === WebSocket.OPEN) t.ws.send(JSON.stringify({ type: 'resize', cols, rows }));
    });
    window.addEventListener('resize', () => fit.fit());
    connect();
    return t;
  }

  function show(node) {
    for (const b of document.querySelectorAll('.tab')) b.setAttribute('aria-selected', String(b.dataset.node === node));
    for (const box of document.querySelectorAll('.term')) {
      box.hidden = box.dataset.node !== node;
      if (!box.hidden) {
        const t = terms[node] || open(box);
        t.fit.fit();
        t.term.focus();
      }
    }
  }
  for (const b of document.querySelectorAll('.tab')) b.addEventListener('click', () => show(b.dataset.node));
  const first = document.querySelector('.tab');
  if (first) show(first.dataset.node);

  // The text of a node's terminal, scrollback included (for a screen
  // reader's user, and for tests).
  window.labctlTerminalText = (node) => {
    const t = terms[node];
    if (!t) return '';
    const b = t.term.buffer.active;
    const lines = [];
    for (let i = 0; i < b.length; i++) lines.push(b.getLine(i).translateToString(true));
    return lines.join('\n');
  };

  for (const b of document.querySelectorAll('button.copy')) {
    b.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(b.dataset.copy);
        b.textContent = 'copied';
      } catch {
        b.textContent = 'select and copy';
      }
      setTimeout(() => { b.textContent = 'copy'; }, 1500);
    });
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  for (const b of document.querySelectorAll('button.check')) {
    b.addEventListener('click', async () => {
      const out = b.closest('.lab').querySelector('.results');
      out.replaceChildren(el('p', 'running', 'checking…'));
      out.dataset.state = 'running';
      for (const x of document.querySelectorAll('button.check')) x.disabled = true;
      try {
        const r = await fetch(`/seat/${seat}/check`, {
          method: 'POST', credentials: 'same-origin',
          headers: { 'X-Labctl': '1', 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ lab: b.dataset.lab, stage: b.dataset.stage }),
        });
        if (!r.ok) throw new Error(await r.text());
        const res = await r.json();
        const list = el('ul', 'checks');
        let failed = 0;
        for (const rep of res.reports || []) {
          if (rep.setup_error) { list.append(el('li', 'fail', rep.setup_error)); failed++; }
          for (const c of rep.checks || []) {
            const li = el('li', c.passed ? 'pass' : 'fail');
            li.append(el('span', 'verdict', c.passed ? 'pass' : (c.timed_out ? 'TIME' : 'FAIL')), el('span', 'name', c.check));
            if (c.expect) li.append(el('span', 'expect', c.expect));
            if (!c.passed) {
              failed++;
              if (c.hint) li.append(el('span', 'hint', 'hint: ' + c.hint));
              if (c.error) li.append(el('span', 'error', c.error));
            }
            list.append(li);
          }
        }
        if (res.error) { list.append(el('li', 'fail', res.error)); failed++; }
        out.replaceChildren(list);
        out.dataset.state = failed ? 'failed' : 'passed';
      } catch (e) {
        out.replaceChildren(el('p', 'fail', String(e.message || e)));
        out.dataset.state = 'error';
      } finally {
        for (const x of document.querySelectorAll('button.check')) x.disabled = false;
      }
    });
  }
})();
