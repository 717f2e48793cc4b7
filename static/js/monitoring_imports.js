/* The import form: choosing a CSV (or JSON lines) file reads its first line in the browser
 * and pre-fills the column mapping by the usual names of each field; other formats hide the
 * mapping. Column names are set as input values and <option> values, never as HTML. */
(function () {
  "use strict";
  var form = document.getElementById("import-form");
  if (!form) return;
  var file = form.elements.file;
  var format = form.elements.file_format;
  var mapping = document.getElementById("column-mapping");
  var help = document.getElementById("mapping-help");
  var datalist = document.getElementById("csv-columns");
  var guesses = JSON.parse(document.getElementById("column-guesses").textContent);
  var detected = "";

  function squash(name) { return name.trim().toLowerCase().replace(/[\s_\-.]+/g, ""); }

  /* The first record of a CSV text, honouring quotes. */
  function headerOf(text) {
    var columns = [], value = "", quoted = false;
    for (var i = 0; i < text.length; i++) {
      var c = text[i];
      if (quoted) {
        if (c === '"' && text[i + 1] === '"') { value += '"'; i++; }
        else if (c === '"') quoted = false;
        else value += c;
      } else if (c === '"') quoted = true;
      else if (c === ",") { columns.push(value.trim()); value = ""; }
      else if (c === "\n" || c === "\r") break;
      else value += c;
    }
    columns.push(value.trim());
    return columns.filter(function (column) { return column !== ""; });
  }

  function fill(columns) {
    var byName = {};
    columns.forEach(function (column) { byName[squash(column)] = column; });
    var used = [];
    datalist.textContent = "";
    columns.forEach(function (column) { var option = document.createElement("option"); option.value = column; datalist.appendChild(option); });
    form.querySelectorAll("input[data-field]").forEach(function (input) {
      var names = guesses[input.dataset.field] || [];
      var found = "";
      for (var i = 0; i < names.length; i++) {
        if (byName[names[i]] && used.indexOf(byName[names[i]]) === -1) { found = byName[names[i]]; break; }
      }
      input.value = found;
      if (found) used.push(found);
    });
    help.textContent = "The file's columns: " + columns.join(", ") + ". Check the guesses below; text and posted at are required.";
  }

  function effectiveFormat() { return format.value || detected; }

  function showMapping() {
    var needed = ["csv", "jsonl", ""].indexOf(effectiveFormat()) !== -1;
    mapping.hidden = !needed;
    mapping.disabled = !needed;
  }

  file.addEventListener("change", function () {
    var chosen = file.files && file.files[0];
    if (!chosen) return;
    var reader = new FileReader();
    reader.onload = function () {
      var text = String(reader.result).replace(/^\uFEFF/, "");
      var head = text.trimStart().toLowerCase();
      if (head.indexOf("tweet id,") === 0) detected = "crisislex";
      else if (head.charAt(0) === "{") {
        detected = text.indexOf('"external_id"') !== -1 ? "export" : "jsonl";
        try { fill(Object.keys(JSON.parse(text.split(/\r?\n/)[0]))); } catch (error) { /* not one object per line */ }
      } else { detected = "csv"; fill(headerOf(text)); }
      showMapping();
    };
    reader.readAsText(chosen.slice(0, 65536));
  });
  format.addEventListener("change", showMapping);
})();
