// A run's page: append its output as it streams (server-sent events), then show the end state.
(function () {
  "use strict";
  const out = document.getElementById("output");
  if (!out || !out.dataset.stream) return;
  const state = document.getElementById("run-state");
  const source = new EventSource(out.dataset.stream);
  out.textContent = "";
  source.addEventListener("output", (ev) => {
    out.textContent += JSON.parse(ev.data);
    out.scrollTop = out.scrollHeight;
    if (state.textContent.trim() === "queued") state.textContent = "running";
  });
  source.addEventListener("done", (ev) => {
    const s = JSON.parse(ev.data).state;
    state.textContent = s.replace(/_/g, " ");
    state.className = "badge state-" + s;
    source.close();
  });
})();
