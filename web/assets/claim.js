// Taking a free seat with one's name: the server answers with the seat's
// own link, where the browser goes.
'use strict';
(() => {
  const form = document.getElementById('claim');
  const msg = document.querySelector('.msg');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.textContent = '';
    const r = await fetch('/claim/', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'X-Labctl': '1', 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ name: form.name.value }),
    });
    if (!r.ok) { msg.textContent = await r.text(); return; }
    const res = await r.json();
    location.assign(res.link);
  });
})();
