(function () {
  "use strict";
  var script = document.getElementById("war-room-script");
  var status = document.getElementById("live-status");
  var list = document.getElementById("event-list");
  var empty = document.getElementById("events-empty");

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
      default: return event.type;
    }
  }

  window.CrisisCenterRealtime.connectOrganization({
    organization: script.dataset.organization,
    baseUrl: script.dataset.websocketUrl,
    onState: function (state) { window.CrisisCenterRealtime.showState(status, state); },
    onEvent: function (event) {
      if (event.type === "notification.created") {
        var mine = (event.data.recipient_ids || []).indexOf(Number(script.dataset.user)) !== -1;
        if (!mine) return;
        var notice = document.createElement("li");
        notice.textContent = event.data.text;
        var box = document.getElementById("my-notifications");
        box.insertBefore(notice, box.firstChild);
      }
      var item = document.createElement("li");
      var time = document.createElement("time");
      time.dateTime = event.at;
      time.textContent = new Date(event.at).toLocaleTimeString();
      item.appendChild(time);
      item.appendChild(document.createTextNode(describe(event)));  // text, never HTML
      item.dataset.eventType = event.type;
      list.insertBefore(item, list.firstChild);
      empty.hidden = true;
    },
    onRevoked: function () { window.CrisisCenterRealtime.showRevoked(status); },
  });
})();
