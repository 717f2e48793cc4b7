/* Statement composer and edit form, progressive enhancement of a plain form:
 * - picking a holding-statement template fills the text (placeholders already filled in);
 * - a live character count and an X counter ("fits in 1 post" / "becomes a thread of N");
 * - live tone advice from POST …/tone-check/ (debounced, advisory, never blocks saving).
 * The server decides everything again when the form is posted. */
(function () {
  "use strict";
  var X_LIMIT = 280, URL_WEIGHT = 23;
  var LIGHT = [[0x0000, 0x10FF], [0x2000, 0x200D], [0x2010, 0x201F], [0x2032, 0x2037]];
  var URL = /https?:\/\/[^\s<>"]+/gi;

  function weight(codePoint) {
    if (codePoint === 0xA9 || codePoint === 0xAE) return 2;
    for (var i = 0; i < LIGHT.length; i++) if (codePoint >= LIGHT[i][0] && codePoint <= LIGHT[i][1]) return 1;
    return 2;
  }

  /* X's weighted length (responses/channels/text.py counts the same way, erring long). */
  function xLength(text) {
    text = (text || "").normalize ? text.normalize("NFC") : text;
    var total = 0, last = 0, match;
    URL.lastIndex = 0;
    while ((match = URL.exec(text)) !== null) {
      total += plainLength(text.slice(last, match.index)) + URL_WEIGHT;
      last = match.index + match[0].length;
    }
    return total + plainLength(text.slice(last));
  }

  function plainLength(text) {
    var total = 0;
    for (var ch of text) total += weight(ch.codePointAt(0));
    return total;
  }

  /* How many posts the text becomes: filled word by word, each part leaving room for " (n/N)". */
  function xPosts(text) {
    text = text.trim();
    if (!text) return 0;
    if (xLength(text) <= X_LIMIT) return 1;
    var room = X_LIMIT - 8, parts = 1, used = 0;
    text.split(/(\s+)/).forEach(function (piece) {
      var size = xLength(piece);
      if (used + size > room && used > 0) { parts += 1; used = /^\s+$/.test(piece) ? 0 : size; }
      else used += size;
      while (used > room) { parts += 1; used -= room; }
    });
    return parts;
  }

  function chars(text) { return Array.from(text || "").length; }

  function field(form, name) {
    return form.querySelector('[name="' + name + '"]') || form.querySelector('[name="edit-' + name + '"]');
  }

  function composedText(form) {
    var headline = field(form, "headline"), body = field(form, "body");
    var parts = [headline && headline.value.trim(), body && body.value.trim()].filter(Boolean);
    return parts.join("\n\n");
  }

  function wireCounters(form) {
    var body = field(form, "body");
    if (!body) return;
    var counter = form.querySelector('[data-counter-for="' + body.id + '"]');
    var xBox = form.querySelector('input[type="checkbox"][value="x"]');
    var hubBox = form.querySelector('input[type="checkbox"][value="hub"]');
    function update() {
      if (!counter) return;
      var text = composedText(form);
      var link = hubBox && hubBox.checked ? "\nhttps://hub.example/" : "";
      var posts = xPosts(text + link);
      var xText = posts <= 1 ? "fits in 1 post on X" : "becomes a thread of " + posts + " on X";
      if (xBox && !xBox.checked) xText += " (X not chosen)";
      counter.textContent = chars(body.value) + " characters · " + xText + (link ? ", with the hub link" : "");
    }
    form.addEventListener("input", update);
    form.addEventListener("change", update);
    update();
  }

  function wireTemplates(form) {
    var body = field(form, "body");
    var language = field(form, "language");
    var inserted = "";
    form.querySelectorAll('input[type="radio"][name="template"]').forEach(function (radio) {
      radio.addEventListener("change", function () {
        if (!radio.checked || !body) return;
        var text = radio.dataset.text || "";
        // Never overwrite words someone typed: only an empty text or an untouched template.
        if (body.value.trim() === "" || body.value === inserted) {
          body.value = text;
          inserted = text;
          if (language && radio.dataset.language) language.value = radio.dataset.language;
          body.dispatchEvent(new Event("input", { bubbles: true }));
        }
      });
    });
  }

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    var input = document.querySelector('input[name="csrfmiddlewaretoken"]');
    return input ? input.value : "";
  }

  function renderFindings(holder, result) {
    holder.textContent = "";
    if (!result.covered) {
      var note = document.createElement("p");
      note.className = "muted small";
      note.textContent = "Phrase checks do not cover this language; only the checkable voice rules ran.";
      holder.appendChild(note);
    }
    var list = document.createElement("ul");
    list.className = "tone-findings";
    list.setAttribute("role", "list");
    var findings = result.findings || [];
    if (!findings.length) {
      var none = document.createElement("li");
      none.className = "muted";
      none.textContent = "No tone findings.";
      list.appendChild(none);
    }
    findings.forEach(function (finding) {
      var item = document.createElement("li");
      item.className = "tone-finding";
      item.dataset.rule = finding.rule;
      var label = document.createElement("strong");
      label.textContent = finding.label || finding.rule;
      item.appendChild(label);
      if (finding.excerpt) {
        item.appendChild(document.createTextNode(": "));
        var mark = document.createElement("mark");
        mark.textContent = finding.excerpt;
        item.appendChild(mark);
      }
      item.appendChild(document.createElement("br"));
      var message = document.createElement("span");
      message.className = "muted small";
      message.textContent = finding.message;
      item.appendChild(message);
      list.appendChild(item);
    });
    holder.appendChild(list);
  }

  function wireTone(form) {
    var url = form.dataset.toneUrl;
    var holder = document.querySelector('.tone-live[data-for="' + form.id + '"]');
    if (!url || !holder) return;
    var timer = null, sequence = 0, lastText = null;
    function check() {
      var text = composedText(form);
      var languageField = field(form, "language");
      var language = (languageField && languageField.value) || form.dataset.language || "en";
      var kind = (field(form, "kind") || {}).value || form.dataset.kind || "";
      if (text + "|" + language + "|" + kind === lastText) return;
      lastText = text + "|" + language + "|" + kind;
      if (!text) { holder.textContent = ""; return; }
      var mine = ++sequence;
      holder.setAttribute("aria-busy", "true");
      fetch(url, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), "X-Requested-With": "fetch" },
        body: JSON.stringify({ text: text, language: language, kind: kind || null }),
      }).then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      }).then(function (result) {
        if (mine === sequence) renderFindings(holder, result);
      }).catch(function () {
        if (mine !== sequence) return;
        holder.textContent = "";
        var note = document.createElement("p");
        note.className = "muted small";
        note.textContent = "Live tone check unavailable just now; the statement page shows the advice once saved.";
        holder.appendChild(note);
      }).then(function () { holder.removeAttribute("aria-busy"); });
    }
    form.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(check, 700);
    });
    check();
  }

  document.querySelectorAll("form.statement-form").forEach(function (form) {
    wireTemplates(form);
    wireCounters(form);
    wireTone(form);
    form.addEventListener("input", function () { form.dataset.dirty = "1"; });
  });
  window.CrisisCenterStatementText = { xLength: xLength, xPosts: xPosts };
})();
