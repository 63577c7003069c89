// The queue keeps itself current: every `data-refresh` seconds it fetches its rows again
// (same filters) and swaps them in, and it waits while the tab is hidden. The rows come
// from our own server, already escaped.
"use strict";
(function () {
  const body = document.getElementById("filas");
  if (!body) return;
  const seconds = Number(body.dataset.refresh || "30");
  if (!(seconds > 0)) return;
  async function refresh() {
    if (document.hidden) return;
    try {
      const r = await fetch(body.dataset.src + window.location.search, {
        credentials: "same-origin",
        headers: { "Accept": "text/html" },
      });
      if (r.redirected || !r.ok) return;
      body.innerHTML = await r.text();
      body.dataset.refreshedAt = String(Date.now());
    } catch (e) {
      // Offline for a moment: the next tick tries again.
    }
  }
  window.setInterval(refresh, seconds * 1000);
})();
