/* One WebSocket per organisation page, with reconnect and a hook to resync on reconnect.
 * Protocol: docs/realtime.md. Events: {type, version, organization, at, data}. */
(function () {
  "use strict";

  function socketUrl(base, path) {
    if (base) return base.replace(/\/$/, "") + path;
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + window.location.host + path;
  }

  function connectOrganization(options) {
    return connect(Object.assign({ path: "/ws/orgs/" + encodeURIComponent(options.organization) + "/" }, options));
  }

  function connectIncident(options) {
    return connect(Object.assign({
      path: "/ws/orgs/" + encodeURIComponent(options.organization) + "/incidents/" + encodeURIComponent(options.incident) + "/",
    }, options));
  }

  function connect(options) {
    var url = socketUrl(options.baseUrl || "", options.path);
    var attempt = 0;
    var socket = null;
    var stopped = false;
    var everConnected = false;

    function setState(state) { if (options.onState) options.onState(state); }

    // A heartbeat keeps this screen in the room's presence list (entries without one expire).
    var heartbeat = window.setInterval(function () {
      if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ping" }));
    }, 30000);

    function open() {
      setState(attempt === 0 ? "connecting" : "reconnecting");
      socket = new WebSocket(url);
      socket.onmessage = function (message) {
        var event;
        try { event = JSON.parse(message.data); } catch (error) { return; }
        if (event.type === "connection.ready") {
          attempt = 0;
          setState("live");
          // A war-room screen counts itself in "who is in the room" (again, after a reconnect).
          if (options.presence) socket.send(JSON.stringify({ type: "presence.join" }));
          // Optional: told on every (re)connection, `true` the first time.
          if (options.onReady) options.onReady(!everConnected);
          // After a drop, the page asks the server for the current state it may have missed.
          if (everConnected && options.onResync) options.onResync();
          everConnected = true;
          return;
        }
        if (options.onEvent) options.onEvent(event);
      };
      socket.onclose = function (close) {
        if (stopped) return;
        setState("offline");
        if (close.code === 4403) { stopped = true; window.clearInterval(heartbeat); if (options.onRevoked) options.onRevoked(); return; }
        attempt += 1;
        var delay = Math.min(30000, 500 * Math.pow(2, attempt)) * (0.5 + Math.random() / 2);
        window.setTimeout(open, delay);
      };
    }
    open();
    return {
      close: function () { stopped = true; window.clearInterval(heartbeat); if (socket) socket.close(); },
      // A client message (docs/realtime.md); dropped while the socket is down.
      send: function (message) { if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message)); },
    };
  }

  var STATE_LABELS = { connecting: "Connecting…", reconnecting: "Reconnecting…", live: "Live", offline: "Offline — retrying" };

  /* Shows the connection state in a `.live-status` element (dot + label). */
  function showState(element, state) {
    element.dataset.state = state;
    element.querySelector(".label").textContent = STATE_LABELS[state] || state;
  }

  function showRevoked(element) {
    element.querySelector(".label").textContent = "Your access to this organisation was removed.";
  }

  window.CrisisCenterRealtime = { showState: showState, showRevoked: showRevoked, connectOrganization: connectOrganization, connectIncident: connectIncident };
})();
