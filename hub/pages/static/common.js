/* Floorgate pages: session, API calls, live streams, formatting. Vanilla ES2017, no build.
 *
 * The session token lives in sessionStorage (this tab only, gone when it closes). Every call
 * sends it as a bearer token; a 401 on an ordinary call ends the session and goes to /login.
 * Calls that check a person's PIN or password (identity: true) report a 401 to their caller.
 */
(function () {
  "use strict";

  var KEY = "floorgate.session";
  var FG = (window.FG = {});
  var clockOffsetMs = 0; // hub time minus this browser's time, from the Date header

  FG.session = function () {
    try {
      var s = JSON.parse(window.sessionStorage.getItem(KEY) || "null");
      if (s && s.token && Date.parse(s.expires_at) > Date.now()) return s;
    } catch (e) {
      /* unreadable: treated as signed out */
    }
    return null;
  };

  FG.saveSession = function (session) {
    window.sessionStorage.setItem(KEY, JSON.stringify(session));
  };

  /** Forget a session the hub no longer accepts (it answered 401), and sign in again here. */
  FG.signOut = function () {
    window.sessionStorage.removeItem(KEY);
    FG.toLogin();
  };

  /**
   * The sign-out button: the hub revokes the token first (so a copy of it is useless), then
   * this tab forgets it. Unreachable hub: the tab forgets it anyway (it expires at the hub).
   */
  FG.logOut = function () {
    var session = FG.session();
    function leave() {
      window.sessionStorage.removeItem(KEY);
      window.location.assign("/login");
    }
    if (!session) {
      leave();
      return;
    }
    fetch("/api/v1/auth/logout", {
      method: "POST",
      headers: { Authorization: "Bearer " + session.token },
      cache: "no-store",
      credentials: "omit",
    }).then(leave, leave);
  };

  FG.toLogin = function () {
    var here = window.location.pathname + window.location.search;
    window.location.assign("/login?next=" + encodeURIComponent(here));
  };

  /** A same-site path to go to after signing in, or null (never another origin). */
  FG.safeNext = function (value) {
    if (typeof value !== "string" || value.charAt(0) !== "/" || value.charAt(1) === "/") {
      return null;
    }
    if (value.indexOf("\\") >= 0) return null;
    return value;
  };

  FG.ApiError = function (status, detail) {
    this.status = status;
    this.detail = detail;
    this.message = "HTTP " + status + ": " + detail;
  };
  FG.ApiError.prototype = Object.create(Error.prototype);

  function noteClock(response) {
    var date = response.headers.get("Date");
    if (date) {
      var hub = Date.parse(date);
      // The header has whole seconds: keep the old offset unless it is off by more than that.
      if (!isNaN(hub) && Math.abs(hub - Date.now() - clockOffsetMs) > 1500) {
        clockOffsetMs = hub - Date.now();
      }
    }
  }

  /** Milliseconds since the epoch by the hub's clock (as far as the Date header tells). */
  FG.hubNow = function () {
    return Date.now() + clockOffsetMs;
  };

  /**
   * Call the hub's JSON API. Resolves to the parsed body (or null for 204).
   * options: method, body (JSON-encoded), query (object), identity (401 is the caller's),
   * accept (default JSON; "text" resolves to the body text).
   */
  FG.api = function (path, options) {
    options = options || {};
    var session = FG.session();
    if (!session) {
      FG.toLogin();
      return new Promise(function () {});
    }
    var url = path;
    if (options.query) {
      var parts = [];
      Object.keys(options.query).forEach(function (key) {
        var value = options.query[key];
        if (value === undefined || value === null || value === "") return;
        (Array.isArray(value) ? value : [value]).forEach(function (v) {
          parts.push(encodeURIComponent(key) + "=" + encodeURIComponent(v));
        });
      });
      if (parts.length) url += (url.indexOf("?") >= 0 ? "&" : "?") + parts.join("&");
    }
    var headers = { Authorization: "Bearer " + session.token };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(url, {
      method: options.method || "GET",
      headers: headers,
      body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
      cache: "no-store",
      credentials: "omit",
    }).then(function (response) {
      noteClock(response);
      if (response.status === 401 && !options.identity) {
        FG.signOut();
        return new Promise(function () {});
      }
      if (response.status === 204) return null;
      if (!response.ok) {
        return response.text().then(function (text) {
          var detail = text;
          try {
            detail = JSON.parse(text).detail || text;
          } catch (e) {
            /* not JSON: keep the text */
          }
          throw new FG.ApiError(response.status, String(detail));
        });
      }
      return options.accept === "text" ? response.text() : response.json();
    });
  };

  /**
   * A live SSE stream read with fetch (EventSource cannot send a bearer token), reconnecting
   * by itself with a capped backoff. handlers: open() once the hub says "ready" (re-read the
   * state then: changes made while disconnected are not replayed), event(name, data),
   * lost(reason) when the stream drops. A stream silent for watchdogMs is treated as lost
   * (the hub sends heartbeats far more often).
   */
  FG.liveStream = function (path, handlers, watchdogMs) {
    watchdogMs = watchdogMs || 45000;
    var stopped = false;
    var attempt = 0;
    var controller = null;
    var timer = null;
    var connected = false;

    function lost(reason) {
      if (connected || attempt === 0) handlers.lost(reason);
      connected = false;
    }

    function kick() {
      if (timer) clearTimeout(timer);
      timer = setTimeout(function () {
        if (controller) controller.abort();
      }, watchdogMs);
    }

    function dispatch(block) {
      var name = "message";
      var data = [];
      block.split("\n").forEach(function (line) {
        if (line.charAt(line.length - 1) === "\r") line = line.slice(0, -1);
        if (!line || line.charAt(0) === ":") return;
        var colon = line.indexOf(":");
        var field = colon < 0 ? line : line.slice(0, colon);
        var value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") name = value;
        else if (field === "data") data.push(value);
      });
      if (!data.length) return true;
      if (name === "ready") {
        attempt = 0;
        connected = true;
        handlers.open();
        return true;
      }
      if (name === "overflow") return false; // the hub dropped us: reconnect and re-read
      var parsed = null;
      try {
        parsed = JSON.parse(data.join("\n"));
      } catch (e) {
        return true;
      }
      handlers.event(name, parsed);
      return true;
    }

    function connect() {
      var session = FG.session();
      if (!session) {
        FG.toLogin();
        return;
      }
      controller = typeof AbortController === "function" ? new AbortController() : null;
      kick();
      fetch(path, {
        headers: { Authorization: "Bearer " + session.token, Accept: "text/event-stream" },
        cache: "no-store",
        credentials: "omit",
        signal: controller ? controller.signal : undefined,
      })
        .then(function (response) {
          noteClock(response);
          if (response.status === 401) {
            stopped = true;
            FG.signOut();
            return null;
          }
          if (!response.ok || !response.body) throw new Error("HTTP " + response.status);
          var reader = response.body.getReader();
          var decoder = new TextDecoder();
          var buffer = "";
          function pump() {
            return reader.read().then(function (chunk) {
              if (chunk.done) return "the hub ended the stream";
              kick();
              buffer += decoder.decode(chunk.value, { stream: true });
              var end;
              while ((end = buffer.indexOf("\n\n")) >= 0) {
                var block = buffer.slice(0, end);
                buffer = buffer.slice(end + 2);
                if (!dispatch(block)) {
                  if (controller) controller.abort();
                  return "the hub dropped a slow stream";
                }
              }
              return pump();
            });
          }
          return pump();
        })
        .then(
          function (reason) {
            if (reason) lost(reason);
          },
          function (error) {
            lost(String((error && error.message) || error));
          }
        )
        .then(function () {
          if (timer) clearTimeout(timer);
          if (stopped) return;
          // 1 s, 2 s, 4 s ... at most 10 s, with jitter so panels do not reconnect in step.
          var delay = Math.min(10000, 1000 * Math.pow(2, attempt)) * (0.75 + Math.random() / 2);
          attempt += 1;
          setTimeout(connect, delay);
        });
    }

    connect();
    return {
      stop: function () {
        stopped = true;
        if (controller) controller.abort();
      },
    };
  };

  /* ---- formatting ---- */

  FG.age = function (seconds) {
    if (seconds === null || seconds === undefined || isNaN(seconds)) return "unknown age";
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 60) return seconds + " s";
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + " min " + (seconds % 60) + " s";
    var hours = Math.floor(minutes / 60);
    if (hours < 48) return hours + " h " + (minutes % 60) + " min";
    return Math.floor(hours / 24) + " d " + (hours % 24) + " h";
  };

  /** Seconds from an ISO time to now, by the hub's clock. */
  FG.secondsSince = function (iso) {
    return (FG.hubNow() - Date.parse(iso)) / 1000;
  };

  FG.time = function (iso) {
    if (!iso) return "";
    var d = new Date(iso);
    function two(n) {
      return (n < 10 ? "0" : "") + n;
    }
    return two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
  };

  FG.dateTime = function (iso) {
    if (!iso) return "";
    var d = new Date(iso);
    function two(n) {
      return (n < 10 ? "0" : "") + n;
    }
    return (
      d.getFullYear() + "-" + two(d.getMonth() + 1) + "-" + two(d.getDate()) + " " + FG.time(iso)
    );
  };

  FG.value = function (value) {
    if (value === null || value === undefined) return "—";
    if (typeof value === "number") {
      return Math.abs(value) >= 1000 || Number.isInteger(value)
        ? String(Math.round(value * 100) / 100)
        : value.toFixed(2);
    }
    return String(value);
  };

  /* ---- DOM: built from nodes, never from markup with data in it ---- */

  /** el("li", {class: "x", "aria-label": "y"}, [child, "text"]) */
  FG.el = function (tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      var value = attributes[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "text") node.textContent = value;
      else if (name === "hidden") node.hidden = true;
      else node.setAttribute(name, value === true ? "" : value);
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  };

  FG.clear = function (node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  };

  FG.show = function (node, text) {
    node.textContent = text;
    node.hidden = !text;
  };

  /* ---- modal dialogs: focus kept inside, Escape closes, focus returns to the opener ---- */

  FG.openDialog = function (overlay, onClose) {
    var opener = document.activeElement;
    overlay.hidden = false;
    function focusables() {
      return Array.prototype.filter.call(
        overlay.querySelectorAll("button, input, textarea, select, a[href], [tabindex]"),
        function (n) {
          return !n.disabled && n.offsetParent !== null && n.tabIndex >= 0;
        }
      );
    }
    function onKey(event) {
      if (event.key === "Escape") {
        close();
      } else if (event.key === "Tab") {
        var items = focusables();
        if (!items.length) return;
        var first = items[0];
        var last = items[items.length - 1];
        if (event.shiftKey && document.activeElement === first) {
          last.focus();
          event.preventDefault();
        } else if (!event.shiftKey && document.activeElement === last) {
          first.focus();
          event.preventDefault();
        }
      }
    }
    function close() {
      overlay.hidden = true;
      overlay.removeEventListener("keydown", onKey);
      if (onClose) onClose();
      if (opener && opener.focus && document.body.contains(opener)) opener.focus();
    }
    overlay.addEventListener("keydown", onKey);
    var first = focusables()[0];
    if (first) first.focus();
    return close;
  };

  /* ---- the top bar: who is signed in, the pages their role can use, sign out, PIN ---- */

  FG.me = null;

  FG.start = function (main) {
    if (!FG.session()) {
      FG.toLogin();
      return;
    }
    var logout = document.getElementById("logout");
    if (logout) logout.addEventListener("click", FG.logOut);
    var clock = document.getElementById("clock");
    if (clock) {
      var tick = function () {
        clock.textContent = FG.time(new Date(FG.hubNow()).toISOString());
      };
      tick();
      setInterval(tick, 1000);
    }
    FG.api("/api/v1/me").then(
      function (me) {
        FG.me = me;
        var who = document.getElementById("who");
        if (who) {
          var place = me.areas.length ? " · " + me.areas.join(", ") : "";
          who.textContent = me.username + " (" + me.role + place + ")";
        }
        // The operations that make a page of use to a role (any one of them).
        var needs = {
          hmi: ["ack_alarm_on_behalf", "list_alarms"],
          approvals: ["list_approvals", "list_tasks"],
          planner: ["list_constraints", "planner_board"],
          audit: ["list_audit"],
        };
        Array.prototype.forEach.call(document.querySelectorAll(".nav a"), function (a) {
          var ops = needs[a.getAttribute("data-page")] || [];
          var usable = ops.some(function (op) { return me.operations.indexOf(op) >= 0; });
          if (!usable && a.getAttribute("aria-current") !== "page") {
            a.parentNode.hidden = true;
          }
        });
        setUpPin();
        main(me);
      },
      function (error) {
        document.getElementById("main").textContent = "Cannot reach the hub: " + error.message;
      }
    );
  };

  FG.can = function (operation) {
    return !!FG.me && FG.me.operations.indexOf(operation) >= 0;
  };

  function setUpPin() {
    var button = document.getElementById("pin-open");
    // A panel device has no PIN of its own: people identify at it with theirs.
    if (!button || !FG.can("set_my_pin")) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var overlay = document.getElementById("pin-dialog") || buildPinDialog();
      var form = overlay.querySelector("form");
      form.reset();
      FG.show(overlay.querySelector(".error"), "");
      var close = FG.openDialog(overlay);
      overlay.querySelector("[data-cancel]").onclick = close;
      form.onsubmit = function (event) {
        event.preventDefault();
        var pin = form.elements.pin.value;
        var error = overlay.querySelector(".error");
        if (pin !== form.elements.pin2.value) {
          FG.show(error, "The two PINs differ.");
          return;
        }
        FG.api("/api/v1/me/pin", {
          method: "PUT",
          body: { password: form.elements.password.value, pin: pin },
          identity: true,
        }).then(close, function (e) {
          FG.show(error, e.status === 401 ? "Wrong password." : e.detail || e.message);
        });
      };
    });
  }

  function field(id, label, type, extra) {
    var input = FG.el("input", Object.assign({ id: id, name: id.replace("pin-new-", ""), type: type, autocomplete: "off" }, extra || {}));
    return [FG.el("label", { for: id, text: label }), input];
  }

  function buildPinDialog() {
    var form = FG.el(
      "form",
      { novalidate: true },
      [FG.el("h2", { id: "pin-title", text: "Set my PIN" }),
        FG.el("p", { class: "hint", text: "6 to 12 digits, to identify at shared alarm panels." })]
        .concat(field("pin-new-password", "Current password", "password"))
        .concat(field("pin-new-pin", "New PIN", "password", { inputmode: "numeric" }))
        .concat(field("pin-new-pin2", "New PIN again", "password", { inputmode: "numeric" }))
        .concat([
          FG.el("p", { class: "error", role: "alert", hidden: true }),
          FG.el("div", { class: "dialog-actions" }, [
            FG.el("button", { type: "button", class: "btn btn-secondary", "data-cancel": true, text: "Cancel" }),
            FG.el("button", { type: "submit", class: "btn btn-primary", text: "Save PIN" }),
          ]),
        ])
    );
    var overlay = FG.el("div", { id: "pin-dialog", class: "overlay", hidden: true }, [
      FG.el("div", { class: "dialog dialog-narrow", role: "dialog", "aria-modal": "true", "aria-labelledby": "pin-title" }, [form]),
    ]);
    document.body.appendChild(overlay);
    return overlay;
  }
})();
