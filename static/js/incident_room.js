/* The incident room: every change pushed over the incident's WebSocket re-renders the parts
 * it touched (no polling). The fact-sheet form is left alone while someone is typing in it. */
(function () {
  "use strict";
  var script = document.getElementById("incident-room-script");
  var status = document.getElementById("live-status");
  var partsFor = {
    acknowledged: ["header", "timeline"], status: ["header", "timeline"], severity: ["header", "timeline"],
    facts: ["facts", "timeline"], roles: ["roles", "tasks", "timeline", "header"], tasks: ["tasks", "timeline"],
    timeline: ["timeline"], clocks: ["header", "timeline"], statement: ["header", "statements", "timeline"],
  };
  var all = ["header", "facts", "roles", "tasks", "timeline", "statements"];
  // Statements, their publications and promises (responses/events.py) carry no "change".
  var statementEvent = /^(statement\.|publication\.|promise\.)/;

  function factsBeingEdited() {
    var form = document.getElementById("facts-form");
    return form && (form.contains(document.activeElement) || form.dataset.dirty === "1");
  }

  function refresh(part) {
    if (part === "facts" && factsBeingEdited()) return;
    var url = new URL(window.location.href);
    url.searchParams.set("part", part);
    fetch(url.toString(), { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { if (!response.ok) throw new Error(response.status); return response.text(); })
      .then(function (html) {
        var holder = document.getElementById("part-" + part);
        if (holder) { holder.innerHTML = html; wire(); tick(); }
      })
      .catch(function () { /* the next event or reconnect resyncs */ });
  }

  function wire() {
    var form = document.getElementById("facts-form");
    if (form && !form.dataset.wired) {
      form.dataset.wired = "1";
      form.addEventListener("input", function () { form.dataset.dirty = "1"; });
    }
  }

  function human(seconds) {
    var negative = seconds < 0; seconds = Math.abs(Math.round(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    var text = (h ? h + "h " : "") + (h || m ? m + "m " : "") + s + "s";
    return negative ? text + " ago" : text;
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-clock-since]").forEach(function (el) {
      el.textContent = human((now - Date.parse(el.dataset.clockSince)) / 1000);
    });
    document.querySelectorAll("[data-clock-due]").forEach(function (el) {
      var left = (Date.parse(el.dataset.clockDue) - now) / 1000;
      el.textContent = left >= 0 ? "in " + human(left) : "overdue by " + human(-left).replace(" ago", "");
      el.classList.toggle("error", left < 0);
    });
  }

  window.CrisisCenterRealtime.connectIncident({
    organization: script.dataset.organization,
    incident: script.dataset.incident,
    baseUrl: script.dataset.websocketUrl,
    onState: function (state) { window.CrisisCenterRealtime.showState(status, state); },
    onEvent: function (event) {
      var change = (event.data && event.data.change) || "";
      if (statementEvent.test(event.type)) { ["statements", "timeline"].forEach(refresh); return; }
      (partsFor[change] || all).forEach(refresh);
    },
    onResync: function () { all.forEach(refresh); },
    onRevoked: function () { window.CrisisCenterRealtime.showRevoked(status); },
  });
  wire();
  tick();
  window.setInterval(tick, 1000);
})();
