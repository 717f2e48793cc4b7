/* The add-a-channel form shows only the settings of the chosen kind (all of them without JS;
   the server reads only the chosen kind's fields either way). */
(function () {
  "use strict";
  var form = document.getElementById("channel-form");
  if (!form) return;
  var kind = form.elements["channel-kind"];

  function show() {
    form.querySelectorAll("fieldset[data-kind]").forEach(function (fieldset) {
      var chosen = fieldset.dataset.kind === kind.value;
      fieldset.hidden = !chosen;
      // Disabled fields are not sent: a token typed under another kind never leaves the browser.
      fieldset.disabled = !chosen;
    });
  }
  kind.addEventListener("change", show);
  show();
})();
