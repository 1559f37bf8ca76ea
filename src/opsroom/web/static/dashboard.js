// The dashboard's charts, drawn by Chart.js (vendored in /static/vendor) from the figures
// the server embeds in the page.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("dashboard-data").textContent);
  const colors = {succeeded: "#2e9e5b", failed: "#d64545", cancelled: "#e0a030", denied: "#8a5cd6", other: "#8c959f"};
  const common = {animation: false, responsive: true, maintainAspectRatio: false};
  new Chart(document.getElementById("chart-outcomes"), {
    type: "bar",
    data: {labels: data.days, datasets: Object.keys(data.per_day).map((k) => ({label: k, data: data.per_day[k], backgroundColor: colors[k]}))},
    options: Object.assign({scales: {x: {stacked: true}, y: {stacked: true, beginAtZero: true, ticks: {precision: 0}}}}, common),
  });
  new Chart(document.getElementById("chart-durations"), {
    type: "bar",
    data: {labels: data.durations.commands, datasets: [
      {label: "p50", data: data.durations.p50, backgroundColor: "#3b82c4"},
      {label: "p95", data: data.durations.p95, backgroundColor: "#f08c3a"}]},
    options: Object.assign({scales: {y: {beginAtZero: true, title: {display: true, text: "seconds"}}}}, common),
  });
  new Chart(document.getElementById("chart-decisions"), {
    type: "line",
    data: {labels: data.days, datasets: [
      {label: "denials", data: data.decisions.denials, borderColor: "#d64545", backgroundColor: "#d64545"},
      {label: "approvals", data: data.decisions.approvals, borderColor: "#2e9e5b", backgroundColor: "#2e9e5b"},
      {label: "approvals denied/expired", data: data.decisions.approvals_denied_or_expired, borderColor: "#8a5cd6", backgroundColor: "#8a5cd6"}]},
    options: Object.assign({scales: {y: {beginAtZero: true, ticks: {precision: 0}}}}, common),
  });
  document.body.dataset.chartsReady = "true";
})();
