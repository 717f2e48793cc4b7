/* The live war room: one snapshot over HTTP, then the organisation's socket keeps it current.
 *
 * There is no polling. The page reads GET …/war-room/ when it opens, when the socket comes
 * back after a drop (realtime.js onResync) and, throttled, after an event that changes state
 * the events do not carry themselves (incidents, triage). Spikes, volume, the high-reach
 * ticker and presence come in the events and are applied as they arrive. The one-second
 * timer only redraws clocks.
 *
 * Mention texts, names and watch names are untrusted: everything is written with
 * textContent, never innerHTML. Links to posts are only followed when they are http(s). */
(function () {
  "use strict";
  var script = document.getElementById("war-room-script");
  if (!script) return;
  var config = script.dataset;
  var canAct = config.canAct === "true";
  var userId = Number(config.user);
  var root = document.getElementById("war-room");
  var liveStatus = document.getElementById("live-status");
  var announcer = document.getElementById("wr-announcer");
  var problem = document.getElementById("wr-problem");
  var MINUTES = 180;
  var TICKER_MAX = 30;
  var EVENTS_MAX = 60;
  var RESYNC_GAP_MS = 2000;
  var ALERT_AFTER_END_MS = 60 * 60 * 1000;
  var SEVERITY_NAMES = { 1: "critical", 2: "high", 3: "moderate", 4: "low" };
  var SOURCE_NAMES = { x: "X", mastodon: "Mastodon", bluesky: "Bluesky", reddit: "Reddit", rss: "the site" };
  var STATUS_NAMES = { detected: "Detected", active: "Active", contained: "Contained", resolved: "Resolved", closed: "Closed" };
  // Events whose payload is the whole change (applied directly) or that nothing here shows.
  var APPLIED = { "spike.opened": 1, "spike.updated": 1, "spike.closed": 1, "volume.updated": 1, "mentions.ingested": 1, "presence.changed": 1 };
  var IGNORED = { "job.updated": 1, "source.updated": 1, "mention.noted": 1, "rumour.updated": 1, "organization.updated": 1, pong: 1 };
  // Too frequent to be worth a line in "Live events" (they show in the charts and ticker).
  var UNLISTED = { "volume.updated": 1, "mentions.ingested": 1, "presence.changed": 1, "job.updated": 1, "spike.updated": 1 };

  var unknownWatches = {};
  var state = {
    loaded: false,
    role: null,
    highReach: null,
    watches: [],          // [{id, name, baseline_per_minute}] in the snapshot's order
    volume: {},           // watch id or "total" → {minute (epoch seconds) → bucket}
    spikes: {},           // id → spike
    sentiment: null,
    ticker: [],
    inbox: {},
    incidents: [],
    statements: [],
    presence: [],
  };

  // --- small helpers ----------------------------------------------------------------------
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function seconds(iso) { return iso ? Math.floor(Date.parse(iso) / 1000) : null; }
  function minuteOf(iso) { return Math.floor(Date.parse(iso) / 60000) * 60; }
  function nowSeconds() { return Math.floor(Date.now() / 1000); }
  function safeUrl(url) { return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null; }

  function human(totalSeconds) {
    totalSeconds = Math.max(0, Math.round(totalSeconds));
    var d = Math.floor(totalSeconds / 86400), h = Math.floor((totalSeconds % 86400) / 3600);
    var m = Math.floor((totalSeconds % 3600) / 60), s = totalSeconds % 60;
    if (d) return d + "d " + h + "h";
    return (h ? h + "h " : "") + (h || m ? m + "m " : "") + s + "s";
  }
  function shortHuman(totalSeconds) {
    totalSeconds = Math.max(0, Math.round(totalSeconds));
    if (totalSeconds < 60) return "just now";
    if (totalSeconds < 3600) return Math.floor(totalSeconds / 60) + "m ago";
    if (totalSeconds < 86400) return Math.floor(totalSeconds / 3600) + "h ago";
    return Math.floor(totalSeconds / 86400) + "d ago";
  }
  function clockTime(iso) {
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }
  function compact(number) {
    if (number === null || number === undefined) return "—";
    if (number >= 1e6) return (number / 1e6).toFixed(number >= 1e7 ? 0 : 1).replace(/\.0$/, "") + "M";
    if (number >= 1e3) return (number / 1e3).toFixed(number >= 1e4 ? 0 : 1).replace(/\.0$/, "") + "k";
    return String(number);
  }
  function rate(value) {
    if (value === null || value === undefined) return "—";
    return value >= 10 ? String(Math.round(value)) : String(Math.round(value * 10) / 10);
  }
  function percent(part, whole) { return whole ? Math.round((100 * part) / whole) + "%" : "—"; }

  // The top of the usual range when the server does not say (alert_per_minute): about the
  // rate that, sustained over the window, would open a spike (spikes.py: twice the baseline
  // and not chance).
  function alertLevel(baseline) {
    if (baseline === null || baseline === undefined) return null;
    return Math.max(2 * baseline, baseline + 3 * Math.sqrt(baseline), 1);
  }

  function say(text) {
    // Clearing first makes the same words be read again for a second spike.
    announcer.textContent = "";
    window.setTimeout(function () { announcer.textContent = text; }, 50);
  }

  function showProblem(text) {
    problem.textContent = text || "";
    problem.hidden = !text;
  }

  // --- the API ----------------------------------------------------------------------------
  function errorText(status, body) {
    if (body && typeof body.detail === "string") return body.detail;
    var error = body && body.error;
    if (error && error.message) {
      var text = error.message;
      if (error.fields) {
        Object.keys(error.fields).forEach(function (field) { text += " " + field + ": " + [].concat(error.fields[field]).join(" "); });
      }
      return text;
    }
    return "That did not work (HTTP " + status + ").";
  }

  function post(path, body) {
    return fetch(config.apiBase + path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": config.csrfToken },
      body: JSON.stringify(body || {}),
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (json) {
        if (!response.ok) throw new Error(errorText(response.status, json));
        return json;
      });
    }, function () { throw new Error("Cannot reach the server; check the connection and try again."); });
  }

  // --- the snapshot, and events that arrive while it is on its way -------------------------
  var snapshotInFlight = false;
  var snapshotAgain = false;
  var snapshotTimer = null;
  var lastSnapshotAt = 0;
  var heldEvents = [];
  var failures = 0;

  function loadSnapshot() {
    if (snapshotInFlight) { snapshotAgain = true; return; }
    snapshotInFlight = true;
    heldEvents = [];
    lastSnapshotAt = Date.now();
    fetch(config.snapshotUrl + "?minutes=" + MINUTES, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        return response.json().catch(function () { return null; }).then(function (json) {
          if (!response.ok) throw new Error(errorText(response.status, json));
          return json;
        });
      })
      .then(function (snapshot) {
        failures = 0;
        applySnapshot(snapshot);
        // What came over the socket meanwhile may be newer than the snapshot: apply it again.
        var held = heldEvents; heldEvents = [];
        held.forEach(applyEvent);
        showProblem("");
      })
      .catch(function (error) {
        failures += 1;
        showProblem("The war room could not load the current picture: " + error.message + (failures < 4 ? " Trying again…" : " It will try again on the next change or reconnect."));
        // Retry a failed read a few times (backing off); this is recovery, not polling.
        if (failures < 4) window.setTimeout(requestSnapshot, 2000 * Math.pow(2, failures));
      })
      .then(function () {
        snapshotInFlight = false;
        if (snapshotAgain) { snapshotAgain = false; requestSnapshot(); }
      });
  }

  /* Re-read the snapshot soon, at most once per RESYNC_GAP_MS however many events ask. */
  function requestSnapshot() {
    if (snapshotTimer) return;
    var wait = Math.max(0, lastSnapshotAt + RESYNC_GAP_MS - Date.now());
    snapshotTimer = window.setTimeout(function () { snapshotTimer = null; loadSnapshot(); }, wait);
  }

  function bucketMap(buckets) {
    var map = {};
    (buckets || []).forEach(function (bucket) { map[minuteOf(bucket.minute)] = bucket; });
    return map;
  }

  /* A bucket is a minute's current total: it replaces what we had, unless what we had is
   * already further along (an event held back during a snapshot read, applied after it). */
  function mergeBuckets(map, buckets) {
    (buckets || []).forEach(function (bucket) {
      var minute = minuteOf(bucket.minute);
      if (!map[minute] || bucket.mentions >= map[minute].mentions) map[minute] = bucket;
    });
  }

  function applySnapshot(snapshot) {
    state.loaded = true;
    state.role = snapshot.role;
    if (typeof snapshot.can_act === "boolean" && snapshot.can_act !== canAct) {
      // The role changed while the page was open: rebuild the alerts with (or without) buttons.
      canAct = snapshot.can_act;
      clear(document.getElementById("alert-list"));
    }
    root.dataset.canAct = canAct ? "true" : "false";
    document.getElementById("alerts-read-only").hidden = canAct;
    if (snapshot.minutes) MINUTES = snapshot.minutes;
    state.highReach = snapshot.high_reach_threshold;
    state.watches = (snapshot.watches || []).map(function (watch) {
      return { id: watch.id, name: watch.name, baseline_per_minute: watch.baseline_per_minute, alert_per_minute: watch.alert_per_minute };
    });
    state.volume = { total: bucketMap(snapshot.total && snapshot.total.buckets) };
    (snapshot.watches || []).forEach(function (watch) { state.volume[watch.id] = bucketMap(watch.buckets); });
    state.spikes = {};
    (snapshot.spikes || []).concat(snapshot.alerts || []).forEach(function (spike) { state.spikes[spike.id] = spike; });
    state.sentiment = snapshot.sentiment || null;
    state.ticker = (snapshot.ticker || []).slice(0, TICKER_MAX);
    state.inbox = snapshot.inbox || {};
    state.inboxHours = snapshot.inbox_hours || null;
    state.incidents = snapshot.incidents || [];
    state.statements = snapshot.statements_awaiting_approval || [];
    state.presence = snapshot.presence || [];
    root.dataset.state = "ready";
    document.getElementById("wr-synced").textContent = "Up to date as of " + new Date(snapshot.generated_at || Date.now()).toLocaleTimeString();
    renderAll();
  }

  // --- live events ------------------------------------------------------------------------
  function applyEvent(event) {
    var data = event.data || {};
    switch (event.type) {
      case "spike.opened":
      case "spike.updated":
      case "spike.closed":
        upsertSpike(data, event.type);
        break;
      case "volume.updated":
        (data.watches || []).forEach(function (watch) {
          var known = state.watches.filter(function (w) { return w.id === watch.watch_id; })[0];
          if (!known) {
            // A watch this page does not know yet: read once (a room with more watches than
            // the snapshot shows would otherwise re-read on every event).
            if (!unknownWatches[watch.watch_id]) { unknownWatches[watch.watch_id] = true; requestSnapshot(); }
            return;
          }
          if (watch.baseline_per_minute !== undefined) known.baseline_per_minute = watch.baseline_per_minute;
          if (watch.alert_per_minute !== undefined) known.alert_per_minute = watch.alert_per_minute;
          mergeBuckets(state.volume[watch.watch_id] || (state.volume[watch.watch_id] = {}), watch.buckets);
        });
        if (data.total) mergeBuckets(state.volume.total || (state.volume.total = {}), data.total.buckets);
        renderCharts();
        renderSentiment();
        break;
      case "mentions.ingested":
        if (data.high_reach && data.high_reach.length) addToTicker(data.high_reach);
        // New mentions land in the inbox as "new"; the next snapshot (any other change, or a
        // reconnect) sets the counters exactly. Re-reading on every batch would have every
        // screen re-read every two seconds while a crisis streams in.
        if (data.stored) { state.inbox["new"] = (state.inbox["new"] || 0) + data.stored; renderInbox(); }
        break;
      case "presence.changed":
        state.presence = data.members || [];
        renderPresence();
        break;
      default:
        if (!IGNORED[event.type]) requestSnapshot();
    }
  }

  function derivedNeedsAction(spike) {
    var snoozed = spike.snoozed_until && Date.parse(spike.snoozed_until) > Date.now();
    return spike.status === "open" && !spike.incident_id && !spike.dismissed_at && !snoozed;
  }

  function needsAction(spike) {
    // The server's word, except for what runs out without anyone telling us: a snooze, and
    // the hour an ended spike stays an alert (monitoring.spike_alerts.ALERT_AFTER_END).
    if (spike.needs_action === undefined) return derivedNeedsAction(spike);
    if (!spike.needs_action && spike.snoozed_until && Date.parse(spike.snoozed_until) <= Date.now()) return derivedNeedsAction(spike);
    if (spike.needs_action && spike.status !== "open" && spike.ended_at && Date.now() - Date.parse(spike.ended_at) > ALERT_AFTER_END_MS) return false;
    return Boolean(spike.needs_action);
  }

  function upsertSpike(spike, eventType) {
    var before = state.spikes[spike.id];
    state.spikes[spike.id] = before ? Object.assign({}, before, spike) : spike;
    var after = state.spikes[spike.id];
    if (eventType === "spike.opened" && !before && needsAction(after)) {
      say("Spike alert on " + after.watch + ": " + magnitudeText(after) + ". " + (canAct ? "Decide under Spike alerts." : ""));
    }
    if (eventType === "spike.updated" && before) logSpikeDecision(before, after);
    renderAlerts();
    renderMarkers();
    renderCharts();
  }

  function addToTicker(items) {
    var known = {};
    state.ticker.forEach(function (item) { known[item.id] = true; });
    var fresh = items.filter(function (item) { return !known[item.id]; });
    if (!fresh.length) return;
    state.ticker = fresh.concat(state.ticker)
      .sort(function (a, b) { return Date.parse(b.posted_at) - Date.parse(a.posted_at); })
      .slice(0, TICKER_MAX);
    renderTicker(fresh.map(function (item) { return item.id; }));
  }

  // --- rendering: alerts ------------------------------------------------------------------
  function magnitudeText(spike) {
    var magnitude = spike.magnitude ? (Math.round(spike.magnitude * 10) / 10) + "× the usual" : "well above the usual";
    return magnitude + " (" + spike.window_count + " mentions in " + spike.window_minutes + " min, " + Math.round(spike.expected) + " expected)";
  }

  function activeIncidents() {
    return state.incidents.filter(function (incident) { return incident.status !== "closed" && incident.status !== "resolved"; });
  }

  function renderAlerts() {
    var list = document.getElementById("alert-list");
    var alerts = Object.keys(state.spikes).map(function (id) { return state.spikes[id]; }).filter(needsAction)
      .sort(function (a, b) { return Date.parse(b.detected_at) - Date.parse(a.detected_at); });
    var wanted = {};
    alerts.forEach(function (spike, index) {
      wanted[spike.id] = true;
      var card = list.querySelector('[data-alert-id="' + Number(spike.id) + '"]');
      if (!card) { card = buildAlert(spike); card.classList.add("fresh"); }
      fillAlert(card, spike);
      if (list.children[index] !== card) list.insertBefore(card, list.children[index] || null);
    });
    Array.prototype.slice.call(list.children).forEach(function (card) {
      if (!wanted[card.dataset.alertId]) list.removeChild(card);
    });
    var count = alerts.length;
    var section = document.getElementById("wr-alerts");
    section.dataset.count = String(count);
    var badge = document.getElementById("alerts-count");
    badge.textContent = String(count);
    badge.setAttribute("aria-label", count + " waiting");
    document.getElementById("alerts-empty").hidden = count > 0;
    document.title = (count ? "(" + count + ") " : "") + document.title.replace(/^\(\d+\) /, "");
  }

  function buildAlert(spike) {
    var card = el("li", "wr-alert");
    card.dataset.alertId = String(spike.id);
    card.setAttribute("aria-labelledby", "alert-title-" + spike.id);
    var head = el("div", "wr-alert-head");
    var title = el("h3", "wr-alert-title");
    title.id = "alert-title-" + spike.id;
    title.appendChild(el("span", "wr-alert-mark", "▲"));
    title.appendChild(document.createTextNode(" Spike on "));
    title.appendChild(el("span", null)).dataset.field = "watch";
    head.appendChild(title);
    var status = el("span", "wr-pill");
    status.dataset.field = "status";
    head.appendChild(status);
    card.appendChild(head);

    var facts = el("p", "wr-alert-facts");
    facts.appendChild(el("strong", null)).dataset.field = "magnitude";
    facts.appendChild(document.createTextNode(" · started "));
    facts.appendChild(el("span", null)).dataset.field = "started";
    facts.appendChild(document.createTextNode(", "));
    var since = el("span", "wr-tabular");
    since.dataset.field = "since";
    facts.appendChild(since);
    facts.appendChild(document.createTextNode(" ago"));
    card.appendChild(facts);

    var why = el("div", "wr-alert-why");
    why.dataset.field = "why";
    card.appendChild(why);

    var playbook = el("p", "wr-alert-playbook");
    playbook.dataset.field = "playbook";
    card.appendChild(playbook);

    if (canAct) {
      var actions = el("div", "wr-alert-actions");
      var open = el("button", "primary", "Open incident");
      open.type = "button"; open.dataset.action = "incident";
      var attach = el("button", null, "Attach to incident…");
      attach.type = "button"; attach.dataset.action = "show-attach"; attach.setAttribute("aria-expanded", "false");
      var snooze = el("button", null, "Snooze…");
      snooze.type = "button"; snooze.dataset.action = "show-snooze"; snooze.setAttribute("aria-expanded", "false");
      snooze.setAttribute("aria-label", "Snooze");
      var dismiss = el("button", "danger", "Not a crisis");
      dismiss.type = "button"; dismiss.dataset.action = "dismiss";
      [open, attach, snooze, dismiss].forEach(function (button) { actions.appendChild(button); });
      card.appendChild(actions);

      var attachPanel = el("div", "wr-alert-panel");
      attachPanel.dataset.panel = "attach"; attachPanel.hidden = true;
      var label = el("label", null, "Incident");
      var select = el("select");
      select.id = "attach-select-" + spike.id; label.htmlFor = select.id;
      select.dataset.field = "incidents";
      var confirm = el("button", "primary", "Attach");
      confirm.type = "button"; confirm.dataset.action = "attach";
      var note = el("p", "muted wr-panel-note", "No active incident to attach to.");
      note.dataset.field = "no-incidents";
      var row = el("div", "input-row");
      row.appendChild(select); row.appendChild(confirm);
      attachPanel.appendChild(label); attachPanel.appendChild(row); attachPanel.appendChild(note);
      attach.setAttribute("aria-controls", attachPanel.id = "attach-panel-" + spike.id);
      card.appendChild(attachPanel);

      var snoozePanel = el("div", "wr-alert-panel wr-snooze");
      snoozePanel.dataset.panel = "snooze"; snoozePanel.hidden = true;
      snoozePanel.setAttribute("role", "group");
      snoozePanel.setAttribute("aria-label", "Snooze this alert for");
      [[15, "15 min"], [60, "1 hour"], [240, "4 hours"]].forEach(function (choice) {
        var button = el("button", null, choice[1]);
        button.type = "button"; button.dataset.action = "snooze"; button.dataset.minutes = String(choice[0]);
        button.setAttribute("aria-label", "Snooze for " + choice[1]);
        snoozePanel.appendChild(button);
      });
      snooze.setAttribute("aria-controls", snoozePanel.id = "snooze-panel-" + spike.id);
      card.appendChild(snoozePanel);
    }
    var message = el("p", "wr-alert-message");
    message.setAttribute("role", "status");
    message.dataset.field = "message";
    card.appendChild(message);
    return card;
  }

  function field(card, name) { return card.querySelector('[data-field="' + name + '"]'); }

  function fillAlert(card, spike) {
    field(card, "watch").textContent = spike.watch;
    var status = field(card, "status");
    status.textContent = spike.status === "open" ? "Rising or holding" : "Ended " + (spike.ended_at ? clockTime(spike.ended_at) : "");
    status.dataset.status = spike.status;
    field(card, "magnitude").textContent = magnitudeText(spike);
    field(card, "started").textContent = clockTime(spike.started_at);
    field(card, "since").dataset.since = spike.started_at;

    var why = field(card, "why");
    clear(why);
    var explanation = spike.explanation || {};
    if (explanation.terms && explanation.terms.length) {
      var terms = el("ul", "wr-terms");
      terms.setAttribute("aria-label", "Words driving it");
      explanation.terms.slice(0, 6).forEach(function (term) {
        var item = el("li", "wr-term");
        item.appendChild(el("span", null, term.term));
        item.appendChild(el("small", null, term.lift === null || term.lift === undefined ? "new" : "×" + term.lift));
        terms.appendChild(item);
      });
      why.appendChild(terms);
    }
    var first = (explanation.first_posts || [])[0];
    if (first) {
      var post = el("p", "wr-alert-post");
      post.appendChild(el("span", "muted", "First post: "));
      if (first.author_handle) post.appendChild(el("strong", null, "@" + first.author_handle + " "));
      post.appendChild(document.createTextNode("“" + first.text + "”"));
      why.appendChild(post);
    }
    var amplifiers = (explanation.amplifiers || []).slice(0, 3);
    var sentiment = explanation.sentiment || {};
    var bits = [];
    if (amplifiers.length) {
      bits.push("Amplified by " + amplifiers.map(function (a) { return "@" + a.author_handle + " (" + compact(a.reach) + ")"; }).join(", "));
    }
    if (sentiment.during && sentiment.during.negative_share !== null && sentiment.during.negative_share !== undefined) {
      var was = sentiment.before && sentiment.before.negative_share !== null && sentiment.before.negative_share !== undefined
        ? " (was " + Math.round(sentiment.before.negative_share * 100) + "%)" : "";
      bits.push("Negative " + Math.round(sentiment.during.negative_share * 100) + "%" + was);
    }
    if (bits.length) why.appendChild(el("p", "wr-alert-context muted", bits.join(" · ")));

    var playbook = field(card, "playbook");
    clear(playbook);
    if (spike.suggested_playbook) {
      playbook.appendChild(el("span", "muted", "Suggested playbook: "));
      playbook.appendChild(el("strong", null, spike.suggested_playbook.name));
      if (spike.suggested_playbook.severity) playbook.appendChild(el("span", "muted", " · severity " + spike.suggested_playbook.severity));
    } else {
      playbook.appendChild(el("span", "muted", "No playbook suggested for this watch."));
    }

    var select = card.querySelector('select[data-field="incidents"]');
    if (select) {
      var chosen = select.value;
      clear(select);
      var incidents = activeIncidents();
      incidents.forEach(function (incident) {
        var option = el("option", null, "Sev " + incident.severity + " · " + incident.title);
        option.value = String(incident.id);
        select.appendChild(option);
      });
      if (chosen) select.value = chosen;
      select.hidden = !incidents.length;
      card.querySelector('[data-action="attach"]').hidden = !incidents.length;
      field(card, "no-incidents").hidden = incidents.length > 0;
    }
  }

  function setPanel(card, name) {
    ["attach", "snooze"].forEach(function (panelName) {
      var panel = card.querySelector('[data-panel="' + panelName + '"]');
      var toggle = card.querySelector('[data-action="show-' + panelName + '"]');
      var open = panelName === name && panel.hidden;
      panel.hidden = !open;
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      if (open) { var first = panel.querySelector("select, button"); if (first) first.focus(); }
    });
  }

  function act(card, action, button) {
    var id = Number(card.dataset.alertId);
    var message = field(card, "message");
    var path = "/spikes/" + id + "/";
    var body = {};
    var done;
    if (action === "incident") {
      var spike = state.spikes[id];
      path += "incident/";
      body = { playbook_id: spike && spike.suggested_playbook ? spike.suggested_playbook.id : null };
      done = function (result) {
        message.textContent = "Incident opened. Taking you there…";
        if (result && result.url) window.location.assign(result.url);
      };
    } else if (action === "attach") {
      var select = card.querySelector('select[data-field="incidents"]');
      path += "attach/";
      body = { incident_id: Number(select.value) };
      done = function (spike) { message.textContent = "Attached."; if (spike && spike.id) upsertSpike(spike, "spike.updated"); };
    } else if (action === "snooze") {
      path += "snooze/";
      body = { minutes: Number(button.dataset.minutes) };
      done = function (spike) { if (spike && spike.id) upsertSpike(spike, "spike.updated"); say("Alert snoozed for " + button.textContent + "."); };
    } else if (action === "dismiss") {
      path += "dismiss/";
      done = function (spike) { if (spike && spike.id) upsertSpike(spike, "spike.updated"); say("Alert dismissed: not a crisis."); };
    } else {
      return;
    }
    var buttons = card.querySelectorAll("button");
    Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
    card.setAttribute("aria-busy", "true");
    message.classList.remove("error");
    message.textContent = "Working…";
    post(path, body).then(done, function (error) {
      message.textContent = error.message;
      message.classList.add("error");
    }).then(function () {
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
      card.removeAttribute("aria-busy");
    });
  }

  document.getElementById("alert-list").addEventListener("click", function (event) {
    var button = event.target.closest("button[data-action]");
    if (!button || !canAct) return;
    var card = button.closest(".wr-alert");
    var action = button.dataset.action;
    if (action === "show-attach") setPanel(card, "attach");
    else if (action === "show-snooze") setPanel(card, "snooze");
    else act(card, action, button);
  });

  // --- rendering: charts ------------------------------------------------------------------
  var charts = {};  // key ("total" or watch id) → {figure, plot, uplot, key}
  var COLORS = { line: "#1f5fd6", lineFill: "rgba(31, 95, 214, 0.10)", band: "rgba(18, 122, 62, 0.14)", baseline: "rgba(18, 122, 62, 0.75)", spike: "rgba(180, 35, 24, 0.13)", spikeLine: "#b42318" };

  function spikesFor(key) {
    return Object.keys(state.spikes).map(function (id) { return state.spikes[id]; })
      .filter(function (spike) { return key === "total" || spike.watch_id === key; })
      .sort(function (a, b) { return Date.parse(b.started_at) - Date.parse(a.started_at); });
  }

  function series(key) {
    var end = Math.floor(nowSeconds() / 60) * 60;
    var start = end - (MINUTES - 1) * 60;
    var map = state.volume[key] || {};
    var xs = [], ys = [], high = [], low = [];
    var watch = key === "total" ? null : state.watches.filter(function (w) { return w.id === key; })[0];
    var baseline = watch ? watch.baseline_per_minute : null;
    var level = watch && watch.alert_per_minute !== null && watch.alert_per_minute !== undefined ? watch.alert_per_minute : alertLevel(baseline);
    // Minutes after "now" by the browser clock still count (a drill runs a little ahead).
    var latest = Object.keys(map).reduce(function (max, minute) { return Math.max(max, Number(minute)); }, end);
    if (latest > end && latest - end < 10 * 60) { end = latest; start = end - (MINUTES - 1) * 60; }
    for (var minute = start; minute <= end; minute += 60) {
      xs.push(minute);
      ys.push(map[minute] ? map[minute].mentions : 0);
      high.push(level);
      low.push(baseline === null || baseline === undefined ? null : baseline);
    }
    return { data: key === "total" ? [xs, ys] : [xs, high, low, ys], latest: ys[ys.length - 1], level: level, baseline: baseline, start: start, end: end };
  }

  function hourMinute(epochSeconds) {
    return new Date(epochSeconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function spikePlugin(key) {
    return {
      hooks: {
        drawClear: function (u) {
          var context = u.ctx, box = u.bbox;
          var xmin = u.scales.x.min, xmax = u.scales.x.max;
          spikesFor(key).forEach(function (spike) {
            var from = Math.max(seconds(spike.started_at), xmin);
            var to = Math.min(spike.ended_at ? seconds(spike.ended_at) + 60 : xmax, xmax);
            if (to <= xmin || from >= xmax) return;
            var left = u.valToPos(from, "x", true), right = u.valToPos(to, "x", true);
            context.save();
            context.fillStyle = COLORS.spike;
            context.fillRect(left, box.top, Math.max(2, right - left), box.height);
            context.restore();
          });
        },
        draw: function (u) {
          var context = u.ctx, box = u.bbox;
          var xmin = u.scales.x.min, xmax = u.scales.x.max;
          spikesFor(key).forEach(function (spike) {
            var at = seconds(spike.detected_at);
            if (at < xmin || at > xmax) return;
            var x = Math.round(u.valToPos(at, "x", true));
            context.save();
            context.strokeStyle = COLORS.spikeLine;
            context.lineWidth = 2 * devicePixelRatio;
            context.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
            context.beginPath(); context.moveTo(x, box.top); context.lineTo(x, box.top + box.height); context.stroke();
            // A triangle on top: the marker reads without its colour.
            context.setLineDash([]);
            context.fillStyle = COLORS.spikeLine;
            var size = 6 * devicePixelRatio;
            context.beginPath(); context.moveTo(x - size, box.top); context.lineTo(x + size, box.top); context.lineTo(x, box.top + size * 1.4); context.closePath(); context.fill();
            context.restore();
          });
        },
      },
    };
  }

  function chartHeight(key) {
    var wide = window.matchMedia("(min-width: 1280px)").matches;
    var tall = window.matchMedia("(min-height: 900px)").matches;
    if (key === "total") return wide && tall ? 170 : 150;
    return wide && tall ? 92 : 88;
  }

  function makeChart(key, figure) {
    var plot = figure.querySelector(".wr-plot");
    var width = plot.clientWidth;
    if (!width || !window.uPlot) return null;
    var built = series(key);
    var isTotal = key === "total";
    var seriesOptions = isTotal
      ? [{}, { label: "Mentions", stroke: COLORS.line, width: 2, fill: COLORS.lineFill, points: { show: false } }]
      : [
        {},
        { label: "Usual range (top)", stroke: "rgba(18, 122, 62, 0.35)", width: 1, dash: [4, 4], points: { show: false } },
        { label: "Baseline", stroke: COLORS.baseline, width: 1, points: { show: false } },
        { label: "Mentions", stroke: COLORS.line, width: 2, fill: COLORS.lineFill, points: { show: false } },
      ];
    var options = {
      width: width,
      height: chartHeight(key),
      series: seriesOptions,
      bands: isTotal ? [] : [{ series: [1, 2], fill: COLORS.band }],
      legend: { show: false },
      padding: [10, 18, 0, 0],  // room for the triangles on top and the last time label
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      scales: {
        x: { time: true },
        y: { range: function (u, min, max) { var level = charts[key] && charts[key].level; return [0, Math.max(4, max * 1.1, (level || 0) * 1.25)]; } },
      },
      axes: [
        // One line of hours and minutes: the range is three hours, the date is today.
        { stroke: "#5b6475", grid: { stroke: "#eef0f4" }, ticks: { stroke: "#dde1e8", size: 4 }, space: 70, size: 26,
          font: "12px system-ui, sans-serif", values: function (u, splits) { return splits.map(hourMinute); } },
        { stroke: "#5b6475", grid: { stroke: "#eef0f4" }, ticks: { show: false }, size: 34, space: isTotal ? 30 : 22,
          font: "12px system-ui, sans-serif", values: function (u, splits) { return splits.map(function (v) { return v === Math.round(v) ? String(v) : ""; }); } },
      ],
      plugins: [spikePlugin(key)],
      hooks: {
        setCursor: [function (u) {
          var hover = figure.querySelector('[data-field="hover"]');
          var index = u.cursor.idx;
          if (index === null || index === undefined) { hover.textContent = ""; return; }
          var mentions = u.data[u.data.length - 1][index];
          hover.textContent = new Date(u.data[0][index] * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) + ": " + mentions;
        }],
      },
    };
    var chart = { key: key, figure: figure, plot: plot, level: built.level };
    charts[key] = chart;
    chart.uplot = new window.uPlot(options, built.data, plot);
    return chart;
  }

  function ensureWatchFigures() {
    var holder = document.getElementById("watch-charts");
    var template = document.getElementById("watch-chart-template");
    var wanted = {};
    state.watches.forEach(function (watch, index) {
      wanted[watch.id] = true;
      var figure = holder.querySelector('[data-watch-id="' + Number(watch.id) + '"]');
      if (!figure) {
        figure = template.content.firstElementChild.cloneNode(true);
        figure.dataset.watchId = String(watch.id);
        figure.dataset.chart = "watch";
      }
      if (holder.children[index] !== figure) holder.insertBefore(figure, holder.children[index] || null);
    });
    Array.prototype.slice.call(holder.children).forEach(function (figure) {
      if (!wanted[figure.dataset.watchId]) {
        var gone = charts[Number(figure.dataset.watchId)];
        if (gone && gone.uplot) gone.uplot.destroy();
        delete charts[Number(figure.dataset.watchId)];
        holder.removeChild(figure);
      }
    });
    if (!state.watches.length && !holder.querySelector(".wr-empty")) {
      holder.appendChild(el("p", "muted wr-empty", "No watches yet. An admin adds them under Monitoring → Watches; each gets its own chart here."));
    } else if (state.watches.length) {
      var empty = holder.querySelector(".wr-empty");
      if (empty) holder.removeChild(empty);
    }
  }

  function renderCharts() {
    if (!state.loaded) return;
    ensureWatchFigures();
    drawChart("total", document.getElementById("chart-total"), "All mentions");
    state.watches.forEach(function (watch) {
      drawChart(watch.id, document.querySelector('#watch-charts [data-watch-id="' + Number(watch.id) + '"]'), watch.name);
    });
  }

  function drawChart(key, figure, name) {
    var built = series(key);
    var chart = charts[key];
    if (!chart) chart = makeChart(key, figure);
    if (chart) {
      chart.level = built.level;
      chart.uplot.setData(built.data);
    }
    var openSpike = spikesFor(key).filter(function (spike) { return spike.status === "open"; })[0];
    figure.classList.toggle("spiking", Boolean(openSpike));
    var nameField = figure.querySelector('[data-field="name"]');
    if (nameField) nameField.textContent = name;
    figure.querySelector('[data-field="now"]').textContent = built.latest + "/min now";
    var usual = figure.querySelector('[data-field="usual"]');
    if (usual) usual.textContent = built.baseline === null || built.baseline === undefined ? "learning the usual" : "usual " + rate(built.baseline) + "/min";
    figure.querySelector(".wr-plot").setAttribute("aria-label",
      "Mentions per minute for " + name + " over the last " + Math.round(MINUTES / 60) + " hours: " + built.latest + " in the latest minute" +
      (built.baseline === null || built.baseline === undefined ? "" : ", usually about " + rate(built.baseline)) +
      (openSpike ? ", spike under way" : "") + ".");
  }

  function renderMarkers() {
    renderMarkerList("total", document.querySelector("#chart-total .wr-markers"));
    state.watches.forEach(function (watch) {
      var figure = document.querySelector('#watch-charts [data-watch-id="' + Number(watch.id) + '"]');
      if (figure) renderMarkerList(watch.id, figure.querySelector(".wr-markers"));
    });
  }

  function renderMarkerList(key, list) {
    clear(list);
    var horizon = nowSeconds() - MINUTES * 60;
    spikesFor(key).filter(function (spike) { return spike.status === "open" || !spike.ended_at || seconds(spike.ended_at) >= horizon; })
      .forEach(function (spike) {
        var item = el("li", "wr-marker");
        item.dataset.spikeId = String(spike.id);
        item.dataset.status = spike.status;
        item.appendChild(el("span", "wr-marker-mark", "▲ "));
        if (key === "total") item.appendChild(el("strong", null, spike.watch + " "));
        var text = "spike " + clockTime(spike.started_at) + "–" + (spike.ended_at ? clockTime(spike.ended_at) : "now") +
          " · " + (Math.round(spike.magnitude * 10) / 10) + "× the usual · peak " + spike.peak_count + " in " + spike.window_minutes + " min ";
        item.appendChild(el("span", null, text));
        var outcome = spike.incident_id ? "incident" : spike.dismissed_at ? "not a crisis" : (spike.snoozed_until && Date.parse(spike.snoozed_until) > Date.now()) ? "snoozed" : spike.status === "open" ? "open" : "ended";
        var badge = el("span", "wr-pill", outcome);
        badge.dataset.status = outcome;
        if (spike.incident_id) {
          var incident = state.incidents.filter(function (i) { return i.id === spike.incident_id; })[0];
          if (incident && incident.url) { var link = el("a", "wr-pill", "incident"); link.href = incident.url; badge = link; }
        }
        item.appendChild(badge);
        list.appendChild(item);
      });
    list.hidden = !list.children.length;
  }

  var resizeTimer = null;
  function resizeCharts() {
    Object.keys(charts).forEach(function (key) {
      var chart = charts[key];
      var width = chart.plot.clientWidth;
      if (width) chart.uplot.setSize({ width: width, height: chartHeight(chart.key) });
    });
  }
  if (window.ResizeObserver) {
    new window.ResizeObserver(function () {
      window.clearTimeout(resizeTimer);
      resizeTimer = window.setTimeout(resizeCharts, 60);
    }).observe(document.querySelector(".wr-volume"));
  } else {
    window.addEventListener("resize", function () { window.clearTimeout(resizeTimer); resizeTimer = window.setTimeout(resizeCharts, 100); });
  }

  // --- rendering: the other cards ---------------------------------------------------------
  function renderSentiment() {
    // The mix follows the live total volume; the average comes with the snapshot.
    var base = state.sentiment || {};
    var window_ = base.minutes || 60;
    var since = nowSeconds() - window_ * 60;
    var sums = { positive: 0, neutral: 0, negative: 0, mentions: 0 };
    var map = state.volume.total || {};
    var fromBuckets = false;
    Object.keys(map).forEach(function (minute) {
      if (Number(minute) < since) return;
      fromBuckets = true;
      ["positive", "neutral", "negative", "mentions"].forEach(function (name) { sums[name] += map[minute][name] || 0; });
    });
    if (!fromBuckets && base.mentions) sums = { positive: base.positive || 0, neutral: base.neutral || 0, negative: base.negative || 0, mentions: base.mentions };
    var whole = sums.positive + sums.neutral + sums.negative;
    document.getElementById("sentiment-range").textContent = "Last " + window_ + " minutes · " + sums.mentions + " mentions";
    ["negative", "neutral", "positive"].forEach(function (part) {
      var share = whole ? (100 * sums[part]) / whole : 0;
      document.querySelector('#sentiment-bar [data-part="' + part + '"]').style.width = share + "%";
      var row = document.querySelector('#sentiment-legend [data-part="' + part + '"]');
      row.querySelector('[data-field="share"]').textContent = percent(sums[part], whole);
      row.querySelector('[data-field="count"]').textContent = whole ? "(" + sums[part] + ")" : "";
    });
    document.getElementById("sentiment-bar").classList.toggle("empty", !whole);
    var average = base.average;
    var averageNode = document.getElementById("sentiment-average");
    clear(averageNode);
    if (average === null || average === undefined) {
      averageNode.appendChild(el("span", "muted", whole ? "" : "No mentions in this window."));
    } else {
      var mood = average <= -0.05 ? "leaning negative" : average >= 0.05 ? "leaning positive" : "neutral";
      averageNode.appendChild(el("span", "muted", "Average score "));
      averageNode.appendChild(el("strong", average <= -0.05 ? "sentiment-negative" : average >= 0.05 ? "sentiment-positive" : null, (average > 0 ? "+" : "") + average.toFixed(2)));
      averageNode.appendChild(el("span", "muted", " — " + mood));
    }
  }

  function renderInbox() {
    document.getElementById("inbox-range").textContent = state.inboxHours ? "Mentions of the last " + state.inboxHours + " h, by state" : "Mentions by state";
    Array.prototype.forEach.call(document.querySelectorAll("#inbox-counters [data-status]"), function (item) {
      var value = state.inbox[item.dataset.status];
      var node = item.querySelector('[data-field="count"]');
      node.textContent = value === undefined ? "0" : compact(value);
      item.classList.toggle("zero", !value);
    });
  }

  function renderPresence() {
    var list = document.getElementById("presence-list");
    clear(list);
    var people = state.presence.slice().sort(function (a, b) { return (a.user_id === userId ? -1 : 0) - (b.user_id === userId ? -1 : 0) || String(a.name).localeCompare(String(b.name)); });
    document.getElementById("presence-count").textContent = String(people.length);
    if (!people.length) { list.appendChild(el("li", "muted", "Nobody else right now.")); return; }
    people.forEach(function (person) {
      var item = el("li", "wr-person");
      item.dataset.userId = String(person.user_id);
      var initials = String(person.name || "?").split(/\s+/).filter(Boolean).slice(0, 2).map(function (word) { return word.charAt(0).toUpperCase(); }).join("");
      item.appendChild(el("span", "wr-avatar", initials || "?")).setAttribute("aria-hidden", "true");
      item.appendChild(el("span", null, person.name + (person.user_id === userId ? " (you)" : "")));
      list.appendChild(item);
    });
  }

  function renderTicker(freshIds) {
    var list = document.getElementById("ticker-list");
    var fresh = {};
    (freshIds || []).forEach(function (id) { fresh[id] = true; });
    clear(list);
    document.getElementById("ticker-threshold").textContent = state.highReach ? "Reach " + compact(state.highReach) + " and up, newest first" : "";
    document.getElementById("ticker-empty").hidden = state.ticker.length > 0;
    state.ticker.forEach(function (mention) {
      var item = el("li", "wr-tick" + (fresh[mention.id] ? " fresh" : ""));
      item.dataset.mentionId = String(mention.id);
      var head = el("div", "wr-tick-head");
      var who = el("a", "wr-tick-author", mention.author_name || (mention.author_handle ? "@" + mention.author_handle : "Unknown author"));
      who.href = config.inboxUrl + encodeURIComponent(mention.id) + "/";
      head.appendChild(who);
      if (mention.author_handle && mention.author_name) head.appendChild(el("span", "muted", "@" + mention.author_handle));
      head.appendChild(el("span", "wr-reach", compact(mention.reach) + " reach"));
      var time = el("time", "muted", shortHuman(nowSeconds() - seconds(mention.posted_at)));
      time.dateTime = mention.posted_at;
      time.dataset.ago = mention.posted_at;
      head.appendChild(time);
      item.appendChild(head);
      item.appendChild(el("p", "wr-tick-text", mention.text));
      var link = safeUrl(mention.url);
      if (link) {
        var original = el("a", "wr-tick-link", SOURCE_NAMES[mention.source] ? "View on " + SOURCE_NAMES[mention.source] : "View the original");
        original.href = link; original.rel = "noopener noreferrer"; original.target = "_blank";
        item.appendChild(original);
      }
      list.appendChild(item);
    });
  }

  function clockRow(label, value) {
    var row = el("div");
    row.appendChild(el("dt", null, label));
    var dd = el("dd");
    if (value instanceof Node) dd.appendChild(value); else dd.textContent = value;
    row.appendChild(dd);
    return row;
  }

  function dueNode(iso) {
    var node = el("span", "wr-tabular");
    node.dataset.due = iso;
    return node;
  }

  function renderIncidents() {
    var list = document.getElementById("incident-list");
    clear(list);
    var incidents = state.incidents;
    document.getElementById("incidents-count").textContent = String(incidents.length);
    if (!incidents.length) { list.appendChild(el("li", "muted", "No active incident.")); return; }
    incidents.forEach(function (incident) {
      var item = el("li", "wr-incident");
      item.dataset.incidentId = String(incident.id);
      var head = el("div", "wr-incident-head");
      var severity = el("span", "sev sev-" + incident.severity, incident.severity);
      severity.title = "Severity " + incident.severity + " — " + (SEVERITY_NAMES[incident.severity] || "");
      severity.setAttribute("aria-label", "Severity " + incident.severity + ", " + (SEVERITY_NAMES[incident.severity] || ""));
      head.appendChild(severity);
      var link = el("a", "wr-incident-title", incident.title);
      link.href = incident.url;
      head.appendChild(link);
      head.appendChild(el("span", "wr-pill", STATUS_NAMES[incident.status] || incident.status)).dataset.status = incident.status;
      item.appendChild(head);
      var clocks = el("dl", "clocks wr-clocks");
      var since = el("span", "wr-tabular");
      since.dataset.since = incident.detected_at;
      clocks.appendChild(clockRow("Since detection", since));
      if (incident.first_statement_at) {
        var took = seconds(incident.first_statement_at) - seconds(incident.detected_at);
        clocks.appendChild(clockRow("First statement", "out after " + human(took)));
      } else if (incident.first_statement_due_at) {
        clocks.appendChild(clockRow("First statement", dueNode(incident.first_statement_due_at)));
      } else {
        clocks.appendChild(clockRow("First statement", "not yet"));
      }
      clocks.appendChild(clockRow("Next update", incident.next_update_due_at ? dueNode(incident.next_update_due_at) : "—"));
      var overdue = el("span", incident.overdue_tasks ? "error" : "muted", incident.overdue_tasks ? incident.overdue_tasks + " overdue" : "none overdue");
      clocks.appendChild(clockRow("Tasks", overdue));
      (incident.promises || []).forEach(function (promise) {
        // What the public was promised, counting down; a slipped one says so in red.
        clocks.appendChild(clockRow("Promise: " + promise.text, promise.status === "slipped" ? el("span", "error", "slipped") : dueNode(promise.due_at)));
      });
      item.appendChild(clocks);
      list.appendChild(item);
    });
  }

  function renderStatements() {
    var list = document.getElementById("approval-list");
    clear(list);
    document.getElementById("approvals-count").textContent = String(state.statements.length);
    if (!state.statements.length) { list.appendChild(el("li", "muted", "None waiting.")); return; }
    state.statements.forEach(function (statement) {
      var item = el("li", "wr-approval");
      var link = el("a", null, statement.title || "Untitled statement");
      link.href = statement.url;
      item.appendChild(link);
      var waiting = el("span", "muted wr-tabular");
      waiting.dataset.since = statement.waiting_since;
      item.appendChild(document.createTextNode(" "));
      item.appendChild(el("span", "muted", "waiting "));
      item.appendChild(waiting);
      if (statement.due_at) {
        // Review deadline: the same clock as the incidents' ("due in …" / "overdue by …").
        var due = el("span", "wr-tabular wr-due");
        due.dataset.due = statement.due_at;
        item.appendChild(document.createTextNode(" · approval "));
        item.appendChild(due);
      }
      list.appendChild(item);
    });
  }

  function renderAll() {
    renderAlerts();
    renderCharts();
    renderMarkers();
    renderSentiment();
    renderInbox();
    renderPresence();
    renderTicker();
    renderIncidents();
    renderStatements();
    tick();
  }

  // --- clocks: display only ---------------------------------------------------------------
  var lastMinute = Math.floor(Date.now() / 60000);
  function tick() {
    var now = Date.now();
    document.getElementById("wr-clock").textContent = new Date(now).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    Array.prototype.forEach.call(root.querySelectorAll("[data-since]"), function (node) {
      node.textContent = human((now - Date.parse(node.dataset.since)) / 1000);
    });
    Array.prototype.forEach.call(root.querySelectorAll("[data-due]"), function (node) {
      var left = (Date.parse(node.dataset.due) - now) / 1000;
      node.textContent = left >= 0 ? "due in " + human(left) : "overdue by " + human(-left);
      node.classList.toggle("error", left < 0);
      node.classList.toggle("wr-soon", left >= 0 && left < 300);
    });
    Array.prototype.forEach.call(root.querySelectorAll("[data-ago]"), function (node) {
      node.textContent = shortHuman((now - Date.parse(node.dataset.ago)) / 1000);
    });
    var minute = Math.floor(now / 60000);
    if (minute !== lastMinute) {
      // The charts' time axis moves on with the clock; a snooze may have run out.
      lastMinute = minute;
      renderAlerts();
      renderCharts();
      renderMarkers();
      renderSentiment();
    }
  }

  // --- the "Live events" list (kept from the first war room) -------------------------------
  var eventList = document.getElementById("event-list");
  var eventsEmpty = document.getElementById("events-empty");

  function describe(event) {
    var d = event.data || {};
    switch (event.type) {
      case "member.added": return d.name + " joined as " + d.role;
      case "member.removed": return d.name + " left the team";
      case "member.role_changed": return d.name + " is now " + d.role;
      case "organization.updated": return "Organisation renamed to " + d.name;
      case "playbook.created": return "New playbook: " + d.name;
      case "incident.opened": return "Incident opened (severity " + d.severity + "): " + d.title;
      case "incident.updated": return d.title + ": " + (d.change === "status" ? "now " + d.to : d.change === "severity" ? "severity " + d.to : d.change + " updated");
      case "notification.created": return "Notice: " + d.text;
      case "playbook.updated": return "Playbook " + d.name + " is now at version " + d.version;
      case "spike.opened": return "Spike on " + d.watch + ": " + magnitudeText(d);
      case "spike.closed": return "Spike on " + d.watch + " is over: volume back near the usual";
      case "watch.updated": return "Watch " + (d.name || "") + " changed";
      default: return event.type;
    }
  }

  function logLine(text, type, at) {
    var item = document.createElement("li");
    var time = document.createElement("time");
    time.dateTime = at || new Date().toISOString();
    time.textContent = new Date(at || Date.now()).toLocaleTimeString();
    item.appendChild(time);
    item.appendChild(document.createTextNode(text));  // text, never HTML
    item.dataset.eventType = type;
    eventList.insertBefore(item, eventList.firstChild);
    while (eventList.children.length > EVENTS_MAX) eventList.removeChild(eventList.lastChild);
    eventsEmpty.hidden = true;
  }

  function logSpikeDecision(before, after) {
    if (!before.incident_id && after.incident_id) logLine("Spike on " + after.watch + " attached to an incident", "spike.updated");
    else if (!before.dismissed_at && after.dismissed_at) logLine("Spike on " + after.watch + " marked not a crisis", "spike.updated");
    else if (after.snoozed_until && after.snoozed_until !== before.snoozed_until) logLine("Spike on " + after.watch + " snoozed until " + clockTime(after.snoozed_until), "spike.updated");
  }

  function listEvent(event) {
    if (UNLISTED[event.type]) return;
    if (event.type === "notification.created") {
      var mine = (event.data.recipient_ids || []).indexOf(userId) !== -1;
      if (!mine) return;
      var notice = document.createElement("li");
      notice.textContent = event.data.text;
      var box = document.getElementById("my-notifications");
      var placeholder = box.querySelector(".muted");
      if (placeholder) box.removeChild(placeholder);
      box.insertBefore(notice, box.firstChild);
    }
    logLine(describe(event), event.type, event.at);
  }

  // --- wiring -----------------------------------------------------------------------------
  var realtime = window.CrisisCenterRealtime;
  var connection = realtime.connectOrganization({
    organization: config.organization,
    baseUrl: config.websocketUrl,
    onState: function (connectionState) { realtime.showState(liveStatus, connectionState); },
    onReady: function (first) {
      // This screen counts as "in the war room" (each socket asks; the server answers with
      // presence.changed). Events sent before the socket joined are not replayed: read again.
      connection.send({ type: "presence.join" });
      if (first) requestSnapshot();
    },
    onEvent: function (event) {
      listEvent(event);
      if (snapshotInFlight && APPLIED[event.type]) heldEvents.push(event);
      applyEvent(event);
    },
    onResync: function () {
      logLine("Reconnected: brought up to date", "resync");
      loadSnapshot();
    },
    onRevoked: function () { realtime.showRevoked(liveStatus); },
  });
  loadSnapshot();
  tick();
  window.setInterval(tick, 1000);
})();
