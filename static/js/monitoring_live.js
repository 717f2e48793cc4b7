/* Live parts of the monitoring admin pages (sources, watches, imports, a job, rumours).
 *
 * An element with data-live-part="<name>", data-live-url and data-live-events="<type> …" is
 * re-rendered by the server when one of those events arrives (at most every 400 ms, never
 * while someone is typing in it). Job progress is updated in place from job.updated, with
 * textContent only. */
(function () {
  "use strict";
  var script = document.getElementById("monitoring-live-script");
  var status = document.getElementById("live-status");
  var holders = Array.prototype.slice.call(document.querySelectorAll("[data-live-part]"));
  var pending = new Map();
  var STATUS_LABELS = { queued: "Queued", running: "Running", done: "Done", failed: "Failed", cancelled: "Cancelled" };
  var FINISHED = ["done", "failed", "cancelled"];
  var connectedOnce = false;

  function typingIn(holder) {
    var active = document.activeElement;
    return Boolean(active) && holder.contains(active) && active.matches("input, textarea, select");
  }

  function refresh(holder) {
    if (pending.get(holder)) return;
    pending.set(holder, window.setTimeout(function () {
      pending.set(holder, null);
      if (typingIn(holder)) return;
      fetch(holder.dataset.liveUrl, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (response) { if (!response.ok) throw new Error(String(response.status)); return response.text(); })
        .then(function (html) { holder.innerHTML = html; })  // server-rendered and escaped
        .catch(function () { /* the next event or a reconnect resyncs */ });
    }, 400));
  }

  function setText(scope, name, value) {
    scope.querySelectorAll('[data-job-field="' + name + '"]').forEach(function (element) {
      if (element.tagName === "PROGRESS") return;
      element.textContent = String(value);
    });
  }

  /* True when the job's rows could be updated in place; false when the part needs redrawing. */
  function updateJob(holder, data) {
    var scopes = holder.querySelectorAll('[data-job-id="' + Number(data.id) + '"]');
    if (!scopes.length) return holder.dataset.liveJob ? true : false;  // another job's event on a job page
    var redraw = FINISHED.indexOf(data.status) !== -1;
    scopes.forEach(function (scope) {
      if (scope.dataset.jobStatus !== data.status) { scope.dataset.jobStatus = data.status; }
      ["position", "total", "stored", "duplicates", "rejected"].forEach(function (name) { setText(scope, name, data[name]); });
      setText(scope, "status", STATUS_LABELS[data.status] || data.status);
      scope.querySelectorAll('progress[data-job-field="progress"]').forEach(function (bar) {
        bar.max = Math.max(1, Number(data.total) || 0);
        bar.value = Number(data.position) || 0;
      });
      var rejected = scope.querySelector('[data-job-field="rejected"]');
      if (holder.dataset.liveJob && rejected && rejected.dataset.shown !== String(data.rejected) && data.rejected > 0) redraw = true;
    });
    return !redraw;
  }

  function onEvent(event) {
    holders.forEach(function (holder) {
      var wanted = (holder.dataset.liveEvents || "").split(/\s+/);
      if (wanted.indexOf(event.type) === -1) return;
      if (event.type === "job.updated" && updateJob(holder, event.data || {})) return;
      refresh(holder);
    });
  }

  window.CrisisCenterRealtime.connectOrganization({
    organization: script.dataset.organization,
    baseUrl: script.dataset.websocketUrl,
    onState: function (state) {
      if (status) window.CrisisCenterRealtime.showState(status, state);
      // Catch up once on what changed between rendering the page and the socket coming up.
      if (state === "live" && !connectedOnce) { connectedOnce = true; holders.forEach(refresh); }
    },
    onEvent: onEvent,
    onResync: function () { holders.forEach(refresh); },
    onRevoked: function () { if (status) window.CrisisCenterRealtime.showRevoked(status); },
  });
})();
