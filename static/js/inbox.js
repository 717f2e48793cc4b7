/* The shared inbox (and a mention's page): live rows, triage through the JSON API, bulk
 * actions and keyboard shortcuts.
 *
 * Mention text is untrusted. New rows come from the server's rows fragment, rendered and
 * escaped by Django; everything this script writes itself goes through textContent, never
 * innerHTML. */
(function () {
  "use strict";
  var script = document.getElementById("inbox-script");
  if (!script) return;
  var config = script.dataset;
  var canTriage = config.canTriage === "1";
  var userId = Number(config.userId);
  var list = document.getElementById("inbox-list");  // absent on a mention's page
  var message = document.getElementById("triage-message");
  var liveStatus = document.getElementById("live-status");
  var newCountButton = document.getElementById("new-count");
  var emptyNote = document.getElementById("inbox-empty");
  var olderLink = document.getElementById("older-link");
  var incidentTitles = readJson("incident-titles");
  var statusLabels = readJson("status-labels");
  var TRIAGE_KEYS = { "1": "needs_reply", "2": "replied", "3": "no_action", "4": "escalated" };
  var MAX_ROWS = 500;
  var selected = null;
  var newCount = 0;

  function readJson(id) {
    var element = document.getElementById(id);
    try { return element ? JSON.parse(element.textContent) : {}; } catch (error) { return {}; }
  }

  function rows() { return Array.prototype.slice.call(document.querySelectorAll(".mention[data-mention-id]")); }
  function rowFor(id) { return document.querySelector('.mention[data-mention-id="' + Number(id) + '"]'); }

  function say(text, isError) {
    message.textContent = text;
    message.classList.toggle("error", Boolean(isError));
  }

  // --- talking to the API ----------------------------------------------------------------
  function errorText(status, body) {
    var error = body && body.error;
    if (!error) return "That did not work (HTTP " + status + ").";
    var text = error.message || "That did not work (HTTP " + status + ").";
    if (error.fields) {
      Object.keys(error.fields).forEach(function (field) { text += " " + field + ": " + [].concat(error.fields[field]).join(" "); });
    }
    return text;
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

  function fetchRows(params) {
    var query = [params, config.filters].filter(Boolean).join("&");
    return fetch(config.rowsUrl + "?" + query, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { if (!response.ok) throw new Error(String(response.status)); return response.text(); })
      .then(function (html) {
        // Server-rendered, auto-escaped rows; a <template> keeps them inert until inserted.
        var holder = document.createElement("template");
        holder.innerHTML = html;
        return Array.prototype.slice.call(holder.content.querySelectorAll(".mention[data-mention-id]"));
      });
  }

  // --- drawing a row's triage state ------------------------------------------------------
  function normalise(data) {
    // API answers carry {assignee: {id, name}}; events carry assignee_id and assignee.
    if (data.assignee && typeof data.assignee === "object") {
      return { status: data.status, assigneeId: data.assignee.id, assignee: data.assignee.name, incidentId: data.incident_id, tags: data.tags };
    }
    return { status: data.status, assigneeId: data.assignee_id, assignee: data.assignee, incidentId: data.incident_id, tags: data.tags };
  }

  function field(row, name) { return row.querySelector('[data-field="' + name + '"]'); }

  function muted(text) {
    var span = document.createElement("span");
    span.className = "muted";
    span.textContent = text;
    return span;
  }

  function applyState(row, data) {
    var state = normalise(data);
    if (state.status) {
      row.dataset.status = state.status;
      row.className = row.className.replace(/\bstatus-\S+/g, "").trim() + " status-" + state.status;
      field(row, "status").textContent = statusLabels[state.status] || state.status;
    }
    var assigneeId = state.assigneeId === null || state.assigneeId === undefined ? "" : String(state.assigneeId);
    row.dataset.assigneeId = assigneeId;
    row.dataset.mine = assigneeId && Number(assigneeId) === userId ? "1" : "0";
    field(row, "assignee").textContent = state.assignee || "nobody";
    if (Array.isArray(state.tags)) {
      var tags = field(row, "tags");
      tags.textContent = "";
      state.tags.forEach(function (name) {
        var tag = document.createElement("span");
        tag.className = "tag";
        tag.textContent = name;
        tags.appendChild(tag);
        tags.appendChild(document.createTextNode(" "));
      });
      if (!state.tags.length) tags.appendChild(muted("none"));
    }
    if (state.incidentId !== undefined) {
      var incident = field(row, "incident");
      incident.textContent = "";
      if (state.incidentId) {
        var link = document.createElement("a");
        link.href = config.incidentUrl + Number(state.incidentId) + "/";
        link.textContent = incidentTitles[state.incidentId] || "Incident " + state.incidentId;
        incident.appendChild(link);
      } else {
        incident.appendChild(muted("none"));
      }
    }
    row.classList.remove("changed");
    void row.offsetWidth;  // restart the highlight
    row.classList.add("changed");
  }

  function markStaleUnlessStillShown(row) {
    // With a status, assignee, tag or incident filter, a change can take a row out of view.
    if (!list || config.stateFilters !== "1") return;
    fetchRows("ids=" + row.dataset.mentionId).then(function (found) {
      var stale = found.length === 0;
      row.classList.toggle("stale", stale);
      var note = row.querySelector(".stale-note");
      if (stale && !note) {
        note = document.createElement("p");
        note.className = "stale-note";
        note.textContent = "No longer matches your filters.";
        row.appendChild(note);
      } else if (!stale && note) {
        note.remove();
      }
    }).catch(function () {});
  }

  // --- live rows -------------------------------------------------------------------------
  function showNewCount() {
    newCountButton.hidden = newCount === 0;
    newCountButton.textContent = newCount + " new";
  }

  function insertRows(found, options) {
    var added = 0;
    // The server answers newest first; insert oldest first at the top so the order holds.
    found.slice().reverse().forEach(function (row) {
      var existing = rowFor(row.dataset.mentionId);
      if (existing) {
        if (options.refresh) {
          var checkbox = existing.querySelector(".select-mention");
          var newCheckbox = row.querySelector(".select-mention");
          if (checkbox && newCheckbox) newCheckbox.checked = checkbox.checked;
          if (existing.contains(document.activeElement) && document.activeElement !== existing) return;  // someone is typing in it
          if (existing === selected) { row.classList.add("selected"); selected = row; }
          existing.replaceWith(row);
        }
        return;
      }
      row.classList.add("fresh");
      list.insertBefore(row, list.firstChild);
      added += 1;
    });
    trim();
    if (emptyNote && rows().length) emptyNote.hidden = true;
    return added;
  }

  function trim() {
    var all = rows();
    if (all.length <= MAX_ROWS) return;
    all.slice(MAX_ROWS).forEach(function (row) { if (row !== selected) row.remove(); });
    var last = rows().pop();
    if (olderLink && last) {
      var params = new URLSearchParams(config.filters || "");
      params.set("cursor", last.dataset.cursor);
      olderLink.href = "?" + params.toString();
      olderLink.hidden = false;
    }
  }

  function onIngested(data) {
    var ids = (data.mention_ids || []).filter(function (id) { return !rowFor(id); });
    if (!ids.length || !list) return;
    if (config.firstPage !== "1") {
      // Reading older pages: count, and let the person go back to the top.
      newCount += ids.length;
      showNewCount();
      return;
    }
    // An event names at most 20 mentions; for a bigger batch read the newest page instead.
    var params = (data.stored || 0) > (data.mention_ids || []).length ? "" : "ids=" + ids.join(",");
    fetchRows(params).then(function (found) {
      newCount += insertRows(found, {});
      showNewCount();
    }).catch(function () { /* the next event or a reconnect resyncs */ });
  }

  /* Reads the newest page again: once when the socket first comes up (for what arrived
   * between rendering and connecting), and after every reconnect (then also redrawing the
   * rows on screen, whose state may have moved on meanwhile). */
  function resync(options) {
    if (!list || config.firstPage !== "1") return;
    fetchRows("").then(function (found) { newCount += insertRows(found, options || {}); showNewCount(); }).catch(function () {});
  }
  var connectedOnce = false;

  // A part of a mention's page (its notes, its replies), redrawn from the server.
  function refreshPart(elementId, part, mentionId) {
    var holder = document.getElementById(elementId);
    if (!holder || Number(holder.dataset.mentionId) !== Number(mentionId)) return;
    fetch(window.location.pathname + "?part=" + part, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { if (!response.ok) throw new Error(String(response.status)); return response.text(); })
      .then(function (html) {
        // Server-rendered and escaped. A reply form someone is filling in is left alone.
        if (holder.contains(document.activeElement) && document.activeElement.form) return;
        holder.innerHTML = html;
      })
      .catch(function () {});
  }

  function refreshNotes(mentionId) { refreshPart("mention-notes", "notes", mentionId); }

  if (newCountButton) {
    newCountButton.addEventListener("click", function () {
      if (config.firstPage !== "1") { window.location.href = window.location.pathname + (config.filters ? "?" + config.filters : ""); return; }
      newCount = 0;
      showNewCount();
      var first = rows()[0];
      if (first) select(first);
      window.scrollTo({ top: 0 });
    });
  }

  window.CrisisCenterRealtime.connectOrganization({
    organization: config.organization,
    baseUrl: config.websocketUrl,
    onState: function (state) {
      window.CrisisCenterRealtime.showState(liveStatus, state);
      if (state === "live" && !connectedOnce) { connectedOnce = true; resync(); }
    },
    onEvent: function (event) {
      var data = event.data || {};
      if (event.type === "mentions.ingested") {
        onIngested(data);
      } else if (event.type === "mention.claimed" || event.type === "mention.updated") {
        var row = rowFor(data.mention_id);
        if (row) { applyState(row, data); markStaleUnlessStillShown(row); }
      } else if (event.type === "mention.noted") {
        refreshNotes(data.mention_id);
      } else if (event.type === "reply.updated") {
        refreshPart("mention-replies", "replies", data.mention_id);
      }
    },
    onResync: function () { resync({ refresh: true }); },
    onRevoked: function () { window.CrisisCenterRealtime.showRevoked(liveStatus); },
  });

  // --- triage ----------------------------------------------------------------------------
  var DONE = {
    claim: "Claimed: it is yours now.", release: "Released.", tag: "Tag added.", note: "Note added.", incident: "Incident link saved.",
  };

  function triage(row, action, value) {
    if (!canTriage || !row) return;
    var id = row.dataset.mentionId;
    var base = "/mentions/" + id;
    var request;
    if (action === "claim") request = post(base + "/claim/");
    else if (action === "release") request = post(base + "/release/");
    else if (action === "status") request = post(base + "/status/", { status: value });
    else if (action === "tag") request = post(base + "/tags/", { add: [value] });
    else if (action === "note") request = post(base + "/notes/", { text: value });
    else if (action === "incident") request = post(base + "/incident/", { incident_id: value ? Number(value) : null });
    else return;
    row.setAttribute("aria-busy", "true");
    return request.then(function (answer) {
      if (action === "note") refreshNotes(id);
      else applyState(row, answer);
      say(action === "status" ? "Marked as " + (statusLabels[value] || value).toLowerCase() + "." : DONE[action]);
      return true;
    }).catch(function (error) {
      say(error.message, true);
      return false;
    }).then(function (ok) {
      row.removeAttribute("aria-busy");
      return ok;
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-action]");
    var row = event.target.closest(".mention[data-mention-id]");
    if (button && row) {
      select(row, { keepFocus: true });
      triage(row, button.dataset.action, button.dataset.status);
      return;
    }
    if (row && !event.target.closest("a, button, input, select, textarea, summary, label")) select(row, { keepFocus: true });
  });

  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form.triage-form");
    if (!form) return;
    event.preventDefault();
    var row = form.closest(".mention[data-mention-id]");
    var input = form.elements.value;
    var value = input.value.trim();
    if (!value && form.dataset.action !== "incident") return;
    triage(row, form.dataset.action, value).then(function (ok) {
      if (ok && form.dataset.action !== "incident") input.value = "";
    });
  });

  // --- selection and bulk actions --------------------------------------------------------
  var bulkBar = document.getElementById("bulk-bar");
  var selectAll = document.getElementById("select-all");

  function checkedIds() {
    return Array.prototype.slice.call(document.querySelectorAll(".select-mention:checked")).map(function (box) { return Number(box.value); });
  }

  function updateBulkBar() {
    if (!bulkBar) return;
    var count = checkedIds().length;
    bulkBar.hidden = count === 0;
    document.body.classList.toggle("has-bulk-bar", count > 0);
    document.getElementById("bulk-count").textContent = count + " selected";
  }

  document.addEventListener("change", function (event) {
    if (event.target.classList.contains("select-mention")) updateBulkBar();
    if (event.target === selectAll) {
      document.querySelectorAll(".select-mention").forEach(function (box) { box.checked = selectAll.checked; });
      updateBulkBar();
    }
  });

  if (bulkBar) {
    bulkBar.addEventListener("submit", function (event) { event.preventDefault(); });
    bulkBar.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-bulk]");
      if (!button) return;
      var action = button.dataset.bulk;
      if (action === "clear") {
        document.querySelectorAll(".select-mention:checked").forEach(function (box) { box.checked = false; });
        if (selectAll) selectAll.checked = false;
        updateBulkBar();
        return;
      }
      var body = { mention_ids: checkedIds(), action: action };
      if (action === "status") body.status = document.getElementById("bulk-status").value;
      if (action === "tag") {
        body.tag = document.getElementById("bulk-tag").value.trim();
        if (!body.tag) { say("Type the tag first.", true); return; }
      }
      if (action === "link_incident") {
        var incident = document.getElementById("bulk-incident").value;
        body.incident_id = incident ? Number(incident) : null;
      }
      button.disabled = true;
      post("/mentions/bulk/", body).then(function (result) {
        result.done.forEach(function (id) {
          var row = rowFor(id);
          var box = row && row.querySelector(".select-mention");
          if (box) box.checked = false;
        });
        updateBulkBar();
        var text = "Done for " + result.done.length + " mention" + (result.done.length === 1 ? "" : "s") + ".";
        if (result.skipped.length) {
          text += " Skipped " + result.skipped.length + ": " + result.skipped.slice(0, 5).map(function (skip) { return skip.reason; }).join(" ");
        }
        say(text, result.skipped.length > 0);
      }).catch(function (error) { say(error.message, true); }).then(function () { button.disabled = false; });
    });
  }

  // --- keyboard --------------------------------------------------------------------------
  var help = document.getElementById("shortcut-help");
  var prompt = document.getElementById("key-prompt");
  var promptInput = document.getElementById("key-prompt-input");
  var promptLabel = document.getElementById("key-prompt-label");
  var pending = null;

  function select(row, options) {
    if (!row) return;
    if (selected && selected !== row) { selected.classList.remove("selected"); selected.removeAttribute("aria-current"); }
    selected = row;
    row.classList.add("selected");
    row.setAttribute("aria-current", "true");
    if (!(options && options.keepFocus)) {
      row.focus({ preventScroll: true });
      row.scrollIntoView({ block: "nearest" });
    }
  }

  function move(step) {
    var all = rows();
    if (!all.length) return;
    var index = all.indexOf(selected);
    var next = index === -1 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, index + step));
    select(all[next]);
  }

  function current() {
    if (selected && document.body.contains(selected)) return selected;
    var all = rows();
    return all.length === 1 ? all[0] : null;
  }

  function ask(label, action) {
    if (!prompt) return;
    pending = action;
    promptLabel.textContent = label;
    promptInput.value = "";
    prompt.hidden = false;
    promptInput.focus();
  }

  function closePrompt() {
    prompt.hidden = true;
    pending = null;
    if (selected) selected.focus({ preventScroll: true });
  }

  if (prompt) {
    prompt.addEventListener("submit", function (event) {
      event.preventDefault();
      var value = promptInput.value.trim();
      var action = pending;
      closePrompt();
      if (value && action) action(value);
    });
    prompt.querySelector("[data-cancel]").addEventListener("click", closePrompt);
    promptInput.addEventListener("keydown", function (event) { if (event.key === "Escape") { event.preventDefault(); closePrompt(); } });
  }

  function toggleHelp() {
    if (!help) return;
    if (help.open) help.close(); else help.showModal();
  }
  document.querySelectorAll("[data-show-help]").forEach(function (button) { button.addEventListener("click", toggleHelp); });

  function typing(target) {
    if (!target || !target.closest) return false;
    if (target.isContentEditable) return true;
    var control = target.closest("input, textarea, select");
    return Boolean(control) && !(control.type === "checkbox" || control.type === "radio" || control.type === "button" || control.type === "submit");
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (help && help.open && event.key !== "?") return;
    var key = event.key;
    var row = current();
    var handled = true;
    if (key === "j") move(1);
    else if (key === "k") move(-1);
    else if (key === "?") toggleHelp();
    else if (key === "o") {
      if (row && /^https?:\/\//i.test(row.dataset.url || "")) window.open(row.dataset.url, "_blank", "noopener,noreferrer");
      else if (row) say("This mention has no link to an original.", true);
    } else if (!canTriage) handled = false;
    else if (!row && "crx1234tn".indexOf(key) !== -1) say("Press j to pick a mention first.", true);
    else if (key === "c") triage(row, "claim");
    else if (key === "r") triage(row, "release");
    else if (TRIAGE_KEYS[key]) triage(row, "status", TRIAGE_KEYS[key]);
    else if (key === "x") {
      var box = row.querySelector(".select-mention");
      if (box) { box.checked = !box.checked; updateBulkBar(); }
    } else if (key === "t") ask("Tag for this mention", function (value) { triage(row, "tag", value); });
    else if (key === "n") ask("Note on this mention", function (value) { triage(row, "note", value); });
    else handled = false;
    if (handled) event.preventDefault();
  });

  // A mention's page has one row: it is the one the keys act on.
  if (!list && rows().length === 1) select(rows()[0], { keepFocus: true });
})();
