// The browser half of e2e's TestWorkshopForReal: a student's page and the
// instructor's board of 'labctl workshop serve', in headless Chromium
// (Debian's, never a downloaded one), driven by Playwright. The Go test
// starts the server and runs this inside the "student laptop" namespace;
// it reads the one JSON line this prints last.
//
// The browser reaches the server through a TCP relay here, which the
// script cuts to play a Wi-Fi drop.
//
// env: LINK_SEAT1, LINK_BOARD (the server's links), TOKEN_SEAT2, SHOTS
// (a directory for the screenshots).
import { chromium } from 'playwright-core';
import net from 'node:net';
import path from 'node:path';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const seatLink = new URL(env('LINK_SEAT1'));
const boardLink = new URL(env('LINK_BOARD'));
const seat2Token = env('TOKEN_SEAT2');
const shots = env('SHOTS');
const result = { steps: [] };
const step = (name, t0, extra = {}) => {
  const s = { name, ms: Date.now() - t0, ...extra };
  result.steps.push(s);
  console.error(`step: ${name} (${s.ms} ms)`);
};

// The relay: every connection of the browser goes through it; cut()
// closes them all and refuses new ones until restore().
const conns = new Set();
let cutOff = false;
const relay = net.createServer((c) => {
  if (cutOff) {
    c.destroy();
    return;
  }
  const u = net.connect(Number(seatLink.port || 443), seatLink.hostname);
  conns.add(c);
  conns.add(u);
  const close = () => {
    c.destroy();
    u.destroy();
    conns.delete(c);
    conns.delete(u);
  };
  c.on('error', close).on('close', close);
  u.on('error', close).on('close', close);
  c.pipe(u);
  u.pipe(c);
});
await new Promise((ok) => relay.listen(0, '127.0.0.1', ok));
const base = `https://127.0.0.1:${relay.address().port}`;
const via = (u) => base + u.pathname + u.search;
const cut = () => {
  cutOff = true;
  for (const c of conns) c.destroy();
  conns.clear();
};

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  // The instructor's board, open before anything happens on seat 1.
  const instructor = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 700 } });
  const board = await instructor.newPage();
  await board.goto(via(boardLink));
  await board.waitForSelector('#live[data-state="live"]');
  await board.waitForSelector('tr[data-seat="1"][data-status="ready"]', { timeout: 120_000 });
  await board.waitForSelector('tr[data-seat="2"][data-status="ready"]', { timeout: 120_000 });
  if (new URL(board.url()).search !== '') throw new Error(`the board's token stayed in the address bar: ${board.url()}`);

  // Seat 1: node1's terminal.
  const student = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 900 } });
  const page = await student.newPage();
  let t0 = Date.now();
  await page.goto(via(seatLink));
  if (new URL(page.url()).search !== '') throw new Error(`the seat's token stayed in the address bar: ${page.url()}`);
  await page.waitForSelector('.term[data-node="node1"][data-state="connected"]', { timeout: 60_000 });
  step('terminal connected', t0);
  const text = () => page.evaluate(() => window.labctlTerminalText('node1'));
  const waitText = async (re, timeout = 60_000) => {
    await page.waitForFunction((src) => new RegExp(src, 'm').test(window.labctlTerminalText('node1')), re.source, { timeout });
  };
  await page.click('.term[data-node="node1"] .xterm-host');
  t0 = Date.now();
  await page.keyboard.type('docker network ls\n');
  await waitText(/^\S+\s+bridge\s+bridge\s+local/);
  step('docker network ls shows bridge', t0);
  await page.keyboard.type('echo "shell=$$ x=$((6*7))"\n');
  await waitText(/^shell=\d+ x=42$/);
  const before = (await text()).match(/^shell=(\d+) x=42$/m)[1];

  // The Wi-Fi drops for 5 s: the page says so, then comes back to the
  // same shell with what it showed before.
  t0 = Date.now();
  cut();
  await page.waitForSelector('.term[data-node="node1"][data-state="reconnecting"]', { timeout: 30_000 });
  await new Promise((ok) => setTimeout(ok, 5000));
  cutOff = false;
  await page.waitForSelector('.term[data-node="node1"][data-state="connected"]', { timeout: 60_000 });
  step('reconnected after a 5 s cut', t0);
  const replayed = await text();
  if (!/bridge\s+bridge\s+local/.test(replayed) || !replayed.includes(`shell=${before} x=42`)) {
    throw new Error(`after the reconnect the earlier output is gone:\n${replayed}`);
  }
  await page.click('.term[data-node="node1"] .xterm-host');
  await page.keyboard.type('echo "again=$$"\n');
  await waitText(/^again=\d+$/);
  const after = (await text()).match(/^again=(\d+)$/m)[1];
  if (after !== before) throw new Error(`a new shell after the reconnect: $$ was ${before}, now ${after}`);
  result.sameShell = true;

  // The none lab, typed from its steps on the page, then checked.
  const steps = await page.$$eval('.lab[data-lab="none"] .steps li', (lis) => lis.map((li) => ({
    on: li.querySelector('.on').textContent, run: li.querySelector('code').textContent,
  })));
  if (steps.length === 0) throw new Error('the none lab shows no steps');
  for (const s of steps) {
    if (s.on !== 'node1') throw new Error(`a none step on ${s.on}`);
    await page.keyboard.type(s.run + '\n');
  }
  await page.keyboard.type('docker ps --filter name=milk --format "running={{.Names}}"\n');
  await waitText(/^running=milk$/);
  t0 = Date.now();
  await page.click('.lab[data-lab="none"] button.check[data-stage="0"]');
  await page.waitForSelector('.lab[data-lab="none"] .results[data-state="passed"], .lab[data-lab="none"] .results[data-state="failed"], .lab[data-lab="none"] .results[data-state="error"]', { timeout: 180_000 });
  const checked = Date.now();
  const verdict = await page.$eval('.lab[data-lab="none"] .results', (e) => ({ state: e.dataset.state, text: e.innerText }));
  step('check none', t0, { verdict: verdict.state });
  if (verdict.state !== 'passed') throw new Error(`check none: ${verdict.state}\n${verdict.text}`);
  result.checks = await page.$$eval('.lab[data-lab="none"] .results li.pass', (l) => l.length);

  // The board shows it without a reload.
  await board.waitForSelector('tr[data-seat="1"] td.cell.pass[data-check^="none: "]', { timeout: 5000 });
  result.boardMs = Date.now() - checked;
  step('board shows seat 1 passing', checked);
  await page.screenshot({ path: path.join(shots, 'student.png'), fullPage: true });
  await board.screenshot({ path: path.join(shots, 'board.png'), fullPage: true });

  // Seat 2's token opens nothing of seat 1: not the page, not the
  // terminal (HTTP 403 before any WebSocket), and a WebSocket from the
  // browser does not open.
  const other = await browser.newContext({ ignoreHTTPSErrors: true });
  const req = other.request;
  const refusals = {};
  for (const [what, p, headers] of [
    ['page by link', `/seat/1/?t=${seat2Token}`, {}],
    ['page by bearer', '/seat/1/', { Authorization: `Bearer ${seat2Token}` }],
    ['terminal by link', `/seat/1/term/node1?t=${seat2Token}`, { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' }],
    ['terminal by bearer', '/seat/1/term/node1', { Authorization: `Bearer ${seat2Token}`, Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' }],
  ]) {
    const r = await req.get(base + p, { headers, maxRedirects: 0 });
    refusals[what] = r.status();
  }
  result.refusals = refusals;
  const seat2 = await other.newPage();
  await seat2.goto(`${base}/seat/2/?t=${seat2Token}`);
  result.webSocket = await seat2.evaluate((t) => new Promise((ok) => {
    const ws = new WebSocket(`wss://${location.host}/seat/1/term/node1?t=${t}`);
    ws.onopen = () => ok('opened');
    ws.onerror = () => ok('refused');
  }), seat2Token);

  // A reset of seat 2 from the board: resetting, then ready.
  board.on('dialog', (d) => d.accept());
  t0 = Date.now();
  await board.click('tr[data-seat="2"] button.reset');
  await board.waitForSelector('tr[data-seat="2"][data-status="resetting"]', { timeout: 10_000 });
  await board.waitForSelector('tr[data-seat="2"][data-status="ready"]', { timeout: 180_000 });
  step('reset of seat 2 from the board, ready again', t0);
  result.resetMs = Date.now() - t0;
  await board.screenshot({ path: path.join(shots, 'board-after-reset.png'), fullPage: true });
  result.ok = true;
} catch (e) {
  result.error = String(e.stack || e);
} finally {
  await browser.close();
  relay.close();
}
console.log(JSON.stringify(result));
