/* The add-source form shows only the settings of the chosen kind (all of them without JS). */
(function () {
  "use strict";
  var form = document.getElementById("source-form");
  if (!form) return;
  var kind = form.elements.kind;
  var POLLED = ["x", "mastodon", "bluesky", "reddit", "rss"];

  function show() {
    form.querySelectorAll("fieldset[data-kind]").forEach(function (fieldset) {
      var chosen = fieldset.dataset.kind === kind.value;
      fieldset.hidden = !chosen;
      // Hidden settings of other kinds are not sent (a stray token never reaches the server).
      fieldset.disabled = !chosen;
    });
    form.querySelectorAll("[data-polled-only]").forEach(function (element) { element.hidden = POLLED.indexOf(kind.value) === -1; });
  }
  kind.addEventListener("change", show);
  show();
})();
