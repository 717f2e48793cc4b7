/* Statement pages live: the statement page re-renders its parts (status, approval,
 * publications, versions), the statements list its list, and the approver's list itself,
 * on the WebSocket events statement.*, publication.updated and promise.updated (no polling).
 * A part someone is typing in is left alone; the edit form is never replaced. */
(function () {
  "use strict";
  var script = document.getElementById("statement-page-script");
  var status = document.getElementById("live-status");
  var statementId = script.dataset.statement ? Number(script.dataset.statement) : null;
  var version = Number(script.dataset.version || 0);
  var RELEVANT = /^(statement\.|publication\.|promise\.)|^incident\.updated$/;

  function busy(holder) {
    return holder && holder.contains(document.activeElement) && /^(TEXTAREA|INPUT|SELECT)$/.test(document.activeElement.tagName);
  }

  function refreshPart(part) {
    var holder = document.getElementById("part-" + part);
    if (!holder || busy(holder)) return;
    var url = new URL(window.location.href);
    url.hash = "";
    url.searchParams.set("part", part);
    fetch(url.toString(), { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { if (!response.ok) throw new Error(response.status); return response.text(); })
      .then(function (html) { if (!busy(holder)) { holder.innerHTML = html; tick(); } })
      .catch(function () { /* the next event or reconnect resyncs */ });
  }

  function refreshApprovals() {
    var holder = document.getElementById("part-approvals");
    if (!holder || busy(holder)) return;
    fetch(window.location.pathname, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { if (!response.ok) throw new Error(response.status); return response.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var list = fresh.getElementById("part-approvals");
        if (list && !busy(holder)) { holder.innerHTML = list.innerHTML; tick(); }
        var badge = fresh.querySelector("h1 .badge"), mine = document.querySelector("h1 .badge");
        if (badge && mine) { mine.textContent = badge.textContent; mine.className = badge.className; mine.setAttribute("aria-label", badge.getAttribute("aria-label")); }
      })
      .catch(function () {});
  }

  function refreshAll() {
    if (script.dataset.approvals) { refreshApprovals(); return; }
    ["status", "approval", "publications", "versions", "list"].forEach(refreshPart);
  }

  function onEvent(event) {
    if (!RELEVANT.test(event.type)) return;
    var data = event.data || {};
    if (script.dataset.approvals) { if (/^statement\./.test(event.type)) refreshApprovals(); return; }
    refreshPart("list");
    if (statementId === null) return;
    if (data.statement_id !== statementId && event.type !== "incident.updated") return;
    if (event.type === "statement.updated" && data.version && data.version > version) {
      var banner = document.getElementById("stale-banner");
      var form = document.getElementById("edit-form");
      if (banner && form && form.dataset.dirty === "1") banner.hidden = false;
    }
    ["status", "approval", "publications", "versions"].forEach(refreshPart);
  }

  function human(seconds) {
    seconds = Math.abs(Math.round(seconds));
    var d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    if (d) return d + "d " + h + "h";
    return (h ? h + "h " : "") + (h || m ? m + "m " : "") + (h ? "" : s + "s");
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-clock-due]").forEach(function (el) {
      var left = (Date.parse(el.dataset.clockDue) - now) / 1000;
      el.textContent = left >= 0 ? "in " + human(left) : "overdue by " + human(-left);
      el.classList.toggle("error", left < 0);
    });
  }

  var realtime = window.CrisisCenterRealtime;
  var options = {
    organization: script.dataset.organization,
    incident: script.dataset.incident,
    baseUrl: script.dataset.websocketUrl,
    onState: function (state) { realtime.showState(status, state); },
    onEvent: onEvent,
    onResync: refreshAll,
    onRevoked: function () { realtime.showRevoked(status); },
  };
  if (script.dataset.incident) realtime.connectIncident(options);
  else realtime.connectOrganization(options);
  tick();
  window.setInterval(tick, 1000);
})();
