// Exports page: follows the releases being built (GET /api/v1/exports/jobs/<id>/ every 2 s)
// and reloads the page when one is ready, so that its download link appears.
(function () {
  "use strict";
  var POLL_MS = 2000;
  var LABELS = { queued: "Queued", running: "Running", done: "Done", failed: "Failed" };
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr[data-job-url]"));

  function unfinished(row) {
    var status = row.dataset.status;
    return status === "queued" || status === "running";
  }

  function show(row, job) {
    row.dataset.status = job.status;
    row.querySelector(".job-status").textContent = LABELS[job.status] || job.status;
    var bar = row.querySelector(".job-progress");
    bar.value = job.progress;
    bar.textContent = Math.round(job.progress * 100) + " %";
    row.querySelector(".job-percent").textContent = bar.textContent;
    row.querySelector(".job-message").textContent =
      job.status === "failed" ? job.error : job.progress_message;
  }

  function poll() {
    var waiting = rows.filter(unfinished);
    if (!waiting.length) return;
    Promise.all(
      waiting.map(function (row) {
        return fetch(row.dataset.jobUrl, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        })
          .then(function (answer) {
            if (!answer.ok) throw new Error("HTTP " + answer.status);
            return answer.json();
          })
          .then(function (job) {
            show(row, job);
            return job.status === "done";
          })
          .catch(function () {
            return false; // a lost answer: ask again at the next poll
          });
      })
    ).then(function (done) {
      if (done.indexOf(true) !== -1) {
        window.location.reload();
      } else {
        window.setTimeout(poll, POLL_MS);
      }
    });
  }

  if (rows.some(unfinished)) window.setTimeout(poll, POLL_MS);
})();
