/* The HMI alarm panel: active alarms of the panel's area, live over SSE, acknowledge and shelve
 * by a person who identifies with a PIN or password (the panel's own session never acts alone).
 */
(function () {
  "use strict";

  var SHOWN = ["unack-active", "ack-active", "returned-unack"];
  var RANK = { critical: 4, high: 3, medium: 2, low: 1 };
  var STATE_TEXT = {
    "unack-active": "UNACKNOWLEDGED",
    "ack-active": "ACKNOWLEDGED",
    "returned-unack": "RETURNED · NOT ACKNOWLEDGED",
    shelved: "SHELVED",
  };
  var DURATIONS = [15, 30, 60, 120, 240, 480];
  var VALUES_EVERY_MS = 5000;
  var STATUS_EVERY_MS = 5000;

  var params = new URLSearchParams(window.location.search);
  var area = params.get("area") || undefined;
  var alarms = {}; // id -> alarm (shown and shelved ones)
  var values = {}; // "agent|tag" -> {value, quality, age, at}
  var status = null; // the hub's HmiStatus
  var statusAt = 0;
  var streamUp = false;
  var lostAt = null;

  var list = document.getElementById("alarm-list");
  var empty = document.getElementById("no-alarms");
  var counts = document.getElementById("alarm-counts");
  var banner = document.getElementById("stale-banner");
  var staleSince = document.getElementById("stale-since");
  var liveState = document.getElementById("live-state");

  function key(agentId, tag) {
    return agentId + "|" + tag;
  }

  function order(a, b) {
    var rank = (RANK[b.severity] || 0) - (RANK[a.severity] || 0);
    if (rank) return rank;
    var unack = (a.acknowledged ? 1 : 0) - (b.acknowledged ? 1 : 0);
    if (unack) return unack;
    return Date.parse(b.raised_at) - Date.parse(a.raised_at) || b.id - a.id;
  }

  /* ---- ages that count up between refreshes ---- */

  function ticking(baseSeconds, suffix) {
    var node = FG.el("span", { class: "ticking", text: FG.age(baseSeconds) + (suffix || "") });
    node.setAttribute("data-base", String(baseSeconds));
    node.setAttribute("data-from", String(Date.now()));
    node.setAttribute("data-suffix", suffix || "");
    return node;
  }

  function tick() {
    Array.prototype.forEach.call(document.querySelectorAll(".ticking"), function (node) {
      var base = parseFloat(node.getAttribute("data-base"));
      var from = parseFloat(node.getAttribute("data-from"));
      node.textContent = FG.age(base + (Date.now() - from) / 1000) + node.getAttribute("data-suffix");
    });
    if (lostAt) staleSince.textContent = "at " + FG.time(lostAt) + " (" + FG.age((Date.now() - Date.parse(lostAt)) / 1000) + " ago)";
  }

  /* ---- communication ---- */

  function agentOf(agentId) {
    if (!status) return null;
    for (var i = 0; i < status.agents.length; i++) {
      if (status.agents[i].agent_id === agentId) return status.agents[i];
    }
    return null;
  }

  function sourcesOf(agentId) {
    return status ? status.sources.filter(function (s) { return s.agent_id === agentId; }) : [];
  }

  function elapsedSinceStatus() {
    return (Date.now() - statusAt) / 1000;
  }

  /** [state, text]: "up", "down" or "unknown" for the data behind one alarm. */
  function commFor(alarm, value) {
    var agent = agentOf(alarm.agent_id);
    var down = sourcesOf(alarm.agent_id).filter(function (s) { return s.state !== "up"; });
    if (agent && agent.last_seen_age_seconds + elapsedSinceStatus() > status.silent_after_seconds) {
      return ["down", "AGENT SILENT"];
    }
    if (value && value.quality === "bad") {
      return ["down", "COMM LOST" + (down.length ? ": " + down.map(function (s) { return s.source; }).join(", ") : "")];
    }
    if (down.length) {
      return ["down", "SOURCE " + down[0].state.toUpperCase() + ": " + down.map(function (s) { return s.source; }).join(", ")];
    }
    if (!agent) return ["unknown", "Comm unknown"];
    return ["up", "Comm OK"];
  }

  function icon(name) {
    return FG.el("img", { class: "icon", src: "/static/icons/" + name + ".svg", alt: "", width: "28", height: "28" });
  }

  /* ---- rendering ---- */

  function alarmItem(alarm) {
    var severity = alarm.severity || "unknown";
    var value = alarm.tag ? values[key(alarm.agent_id, alarm.tag)] : null;
    var comm = commFor(alarm, value);
    var label = alarm.rule + (alarm.tag ? " on " + alarm.tag : "");
    var valueLine = [];
    if (value) {
      valueLine.push(FG.el("span", { class: "value", text: value.quality === "bad" ? "no value" : FG.value(value.value) }));
      valueLine.push(FG.el("span", { class: "muted" }, [
        " · value ", ticking(value.age + (Date.now() - value.at) / 1000, " old"),
        value.quality !== "good" ? " · quality " + value.quality : "",
      ]));
    } else {
      valueLine.push(FG.el("span", { class: "value", text: FG.value(alarm.value) }));
      valueLine.push(FG.el("span", { class: "muted" }, [" · value at raise, ", ticking(FG.secondsSince(alarm.raised_at), " old")]));
    }
    var actions = [];
    if (!alarm.acknowledged && FG.can("ack_alarm_on_behalf")) {
      actions.push(FG.el("button", { type: "button", class: "btn btn-primary", "data-act": "ack", "data-id": String(alarm.id), "aria-label": "Acknowledge " + label, text: "Acknowledge" }));
    }
    if (FG.can("shelve_alarm_on_behalf")) {
      actions.push(FG.el("button", { type: "button", class: "btn btn-secondary", "data-act": "shelve", "data-id": String(alarm.id), "aria-label": "Shelve " + label, text: "Shelve" }));
    }
    var where = [alarm.tag, alarm.line, alarm.agent_id].filter(Boolean).join(" · ");
    return FG.el("li", { class: "alarm sev-" + severity + " state-" + alarm.state + (alarm.acknowledged ? " acked" : " unacked"), "data-id": String(alarm.id) }, [
      FG.el("div", { class: "sev" }, [icon("sev-" + severity), FG.el("span", { class: "sev-text", text: severity.toUpperCase() })]),
      FG.el("div", { class: "what" }, [
        FG.el("span", { class: "rule", text: alarm.rule }),
        FG.el("span", { class: "where muted", text: where }),
        FG.el("span", { class: "state-line" }, [
          FG.el("strong", { class: "state-text", text: STATE_TEXT[alarm.state] || alarm.state }),
          " · raised " + FG.time(alarm.raised_at) + " (", ticking(FG.secondsSince(alarm.raised_at), " ago"), ")",
          alarm.acked_by ? " · ack " + alarm.acked_by : "",
        ]),
      ]),
      FG.el("div", { class: "val" }, [
        FG.el("span", { class: "value-line" }, valueLine),
        FG.el("span", { class: "comm comm-" + comm[0] }, [icon("comm-" + comm[0]), comm[1]]),
      ]),
      FG.el("div", { class: "actions" }, actions),
    ]);
  }

  var lastSignature = null;

  /** What the list shows, ages aside (they tick in place): unchanged data is not redrawn, so
   * focus, screen readers and a finger on a button are not disturbed by every poll. */
  function signature(shown, shelved) {
    return JSON.stringify([
      shown.concat(shelved).map(function (a) {
        var v = a.tag ? values[key(a.agent_id, a.tag)] : null;
        return [a.id, a.state, a.acked_by, a.shelved_until, v ? [v.value, v.quality, Math.round(v.at / 1000 - v.age)] : null, commFor(a, v)];
      }),
      FG.me && FG.me.operations.length,
    ]);
  }

  function render() {
    var focused = document.activeElement;
    var refocus = focused && focused.getAttribute ? [focused.getAttribute("data-id"), focused.getAttribute("data-act")] : null;
    var all = Object.keys(alarms).map(function (id) { return alarms[id]; });
    var shown = all.filter(function (a) { return SHOWN.indexOf(a.state) >= 0; }).sort(order);
    var shelved = all.filter(function (a) { return a.state === "shelved"; }).sort(order);
    var drawn = signature(shown, shelved);
    if (drawn === lastSignature) return;
    lastSignature = drawn;
    FG.clear(list);
    shown.forEach(function (alarm) { list.appendChild(alarmItem(alarm)); });
    empty.hidden = shown.length > 0;
    var unacked = shown.filter(function (a) { return !a.acknowledged; }).length;
    counts.textContent = shown.length + " active · " + unacked + " unacknowledged" + (shelved.length ? " · " + shelved.length + " shelved" : "");
    var shelvedList = document.getElementById("shelved-list");
    FG.clear(shelvedList);
    shelved.forEach(function (alarm) {
      shelvedList.appendChild(FG.el("li", {}, [
        FG.el("strong", { text: (alarm.severity || "").toUpperCase() + " " + alarm.rule }),
        " until " + FG.time(alarm.shelved_until) + (alarm.shelve_reason ? " · " + alarm.shelve_reason : ""),
      ]));
    });
    document.getElementById("shelved-title").textContent = "Shelved alarms (" + shelved.length + ")";
    if (refocus && refocus[0]) {
      var again = list.querySelector('[data-id="' + refocus[0] + '"][data-act="' + refocus[1] + '"]');
      if (again) again.focus();
    }
  }

  function renderComm() {
    var node = document.getElementById("comm-list");
    FG.clear(node);
    if (!status) return;
    status.agents.forEach(function (agent) {
      var silent = agent.last_seen_age_seconds + elapsedSinceStatus() > status.silent_after_seconds;
      var state = silent ? "down" : "up";
      node.appendChild(FG.el("li", { class: "comm comm-" + state }, [
        icon("comm-" + state),
        FG.el("strong", { text: agent.agent_id }),
        silent ? " SILENT · last heard " : " · last heard ",
        ticking(agent.last_seen_age_seconds + elapsedSinceStatus(), " ago"),
      ]));
      sourcesOf(agent.agent_id).forEach(function (source) {
        var s = source.state === "up" ? "up" : source.state === "unknown" ? "unknown" : "down";
        node.appendChild(FG.el("li", { class: "comm comm-" + s }, [
          icon("comm-" + s),
          FG.el("span", { text: agent.agent_id + " / " + source.source + ": " }),
          FG.el("strong", { text: source.state.toUpperCase() }),
          " since " + FG.time(source.since) + (source.reason ? " · " + source.reason : ""),
        ]));
      });
    });
    if (!status.agents.length) node.appendChild(FG.el("li", { class: "muted", text: "No agent has reported in this area yet." }));
  }

  function setLive(up, reason) {
    streamUp = up;
    if (up) {
      lostAt = null;
      banner.hidden = true;
      document.body.classList.remove("stale");
      liveState.textContent = "Live";
      liveState.className = "live-state live-up";
    } else {
      if (!lostAt) lostAt = new Date(FG.hubNow()).toISOString();
      banner.hidden = false;
      document.body.classList.add("stale");
      liveState.textContent = "Not live";
      liveState.className = "live-state live-down";
      banner.setAttribute("data-reason", reason || "");
      tick();
    }
  }

  /* ---- data ---- */

  function loadAlarms() {
    return FG.api("/api/v1/alarms", { query: { state: SHOWN.concat(["shelved"]), area: area, limit: 1000 } }).then(function (page) {
      alarms = {};
      page.items.forEach(function (a) { alarms[a.id] = a; });
      render();
      return loadValues();
    });
  }

  function loadValues() {
    var agents = {};
    Object.keys(alarms).forEach(function (id) { agents[alarms[id].agent_id] = true; });
    return Promise.all(Object.keys(agents).map(function (agentId) {
      return FG.api("/api/v1/values", { query: { agent_id: agentId, area: area, limit: 1000 } });
    })).then(function (pages) {
      var now = Date.now();
      pages.forEach(function (page) {
        page.items.forEach(function (v) {
          values[key(v.agent_id, v.tag)] = { value: v.value, quality: v.quality, age: v.age_seconds, at: now };
        });
      });
      render();
    });
  }

  function loadStatus() {
    return FG.api("/api/v1/pages/hmi").then(function (reply) {
      status = reply;
      statusAt = Date.now();
      renderComm();
      render();
    });
  }

  function quietly(promise) {
    promise.catch(function () { /* the stale banner already tells; the next poll retries */ });
  }

  /* ---- acknowledge and shelve ---- */

  var overlay = document.getElementById("act-dialog");
  var form = document.getElementById("act-form");
  var actError = document.getElementById("act-error");
  var submit = document.getElementById("act-submit");
  var mode = null;
  var target = null;
  var closeDialog = null;

  function durations() {
    var box = document.getElementById("duration-options");
    FG.clear(box);
    var max = status ? status.max_shelve_minutes : 480;
    DURATIONS.filter(function (m) { return m <= max; }).forEach(function (minutes, i) {
      var id = "shelve-" + minutes;
      var text = minutes < 60 ? minutes + " min" : minutes / 60 + " h";
      box.appendChild(FG.el("input", { type: "radio", name: "minutes", id: id, value: String(minutes), checked: i === 1 || null }));
      box.appendChild(FG.el("label", { for: id, text: text }));
    });
  }

  function openAct(kind, alarm) {
    mode = kind;
    target = alarm;
    form.reset();
    FG.show(actError, "");
    var needsNote = !!status && status.note_required.indexOf(alarm.severity) >= 0;
    document.getElementById("act-title").textContent = kind === "ack" ? "Acknowledge alarm" : "Shelve alarm";
    document.getElementById("act-alarm").textContent = (alarm.severity || "").toUpperCase() + " · " + alarm.rule + (alarm.tag ? " · " + alarm.tag : "");
    document.getElementById("ack-fields").hidden = kind !== "ack";
    document.getElementById("shelve-fields").hidden = kind !== "shelve";
    document.getElementById("note-required").textContent = needsNote ? "(required for " + alarm.severity + ")" : "(optional)";
    document.getElementById("act-note").required = needsNote;
    submit.textContent = kind === "ack" ? "Acknowledge" : "Shelve";
    submit.disabled = false;
    if (kind === "shelve") durations();
    closeDialog = FG.openDialog(overlay, function () { mode = target = null; });
    document.getElementById("act-person").focus();
  }

  list.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-act]") : null;
    if (!button) return;
    var alarm = alarms[button.getAttribute("data-id")];
    if (alarm) openAct(button.getAttribute("data-act"), alarm);
  });

  document.getElementById("act-cancel").addEventListener("click", function () {
    if (closeDialog) closeDialog();
  });

  overlay.querySelector(".keypad").addEventListener("click", function (event) {
    var keyButton = event.target.closest ? event.target.closest("button[data-key]") : null;
    if (!keyButton) return;
    var secret = document.getElementById("act-secret");
    var k = keyButton.getAttribute("data-key");
    if (k === "clear") secret.value = "";
    else if (k === "back") secret.value = secret.value.slice(0, -1);
    else secret.value += k;
  });

  Array.prototype.forEach.call(overlay.querySelectorAll("[data-note]"), function (chip) {
    chip.addEventListener("click", function () {
      var note = document.getElementById("act-note");
      note.value = note.value ? note.value + "; " + chip.getAttribute("data-note") : chip.getAttribute("data-note");
    });
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!target) return;
    var person = form.elements.person.value.trim();
    var secret = form.elements.secret.value;
    if (!person || !secret) {
      FG.show(actError, "Enter your user name and your PIN or password.");
      return;
    }
    var body = { person: person, secret: secret };
    var path;
    if (mode === "ack") {
      var note = form.elements.note.value.trim();
      if (form.elements.note.required && !note) {
        FG.show(actError, "A note is required to acknowledge a " + target.severity + " alarm.");
        form.elements.note.focus();
        return;
      }
      if (note) body.note = note;
      path = "/api/v1/alarms/" + target.id + "/ack-on-behalf";
    } else {
      var chosen = form.querySelector('input[name="minutes"]:checked');
      var reason = form.elements.reason.value.trim();
      if (!chosen || !reason) {
        FG.show(actError, "Choose how long, and give a reason.");
        return;
      }
      body.minutes = parseInt(chosen.value, 10);
      body.reason = reason;
      path = "/api/v1/alarms/" + target.id + "/shelve-on-behalf";
    }
    submit.disabled = true;
    FG.api(path, { method: "POST", body: body, identity: true }).then(
      function (alarm) {
        alarms[alarm.id] = alarm;
        if (closeDialog) closeDialog();
        render();
        announce((mode === "ack" ? "Acknowledged" : "Shelved") + " by " + person);
      },
      function (error) {
        submit.disabled = false;
        form.elements.secret.value = "";
        var text = error.detail || error.message;
        if (error.status === 401) text = "Wrong user name, PIN or password.";
        FG.show(actError, text);
      }
    );
  });

  function announce(text) {
    var node = document.getElementById("live-state");
    node.textContent = text;
    setTimeout(function () { setLive(streamUp); }, 4000);
  }

  /* ---- start ---- */

  FG.start(function (me) {
    document.getElementById("area-name").textContent = area ? "· " + area : me.areas.length ? "· " + me.areas.join(", ") : "· all areas";
    setInterval(tick, 1000);
    quietly(loadStatus());
    quietly(loadAlarms());
    setInterval(function () { quietly(loadValues()); }, VALUES_EVERY_MS);
    // Sooner while nothing has reported yet (a panel that starts with its line).
    (function pollStatus() {
      var soon = !status || !status.sources.length;
      setTimeout(function () { quietly(loadStatus()); pollStatus(); }, soon ? 1000 : STATUS_EVERY_MS);
    })();
    FG.liveStream("/api/v1/alarms/stream", {
      open: function () {
        setLive(true);
        quietly(loadAlarms());
      },
      lost: function (reason) {
        setLive(false, reason);
      },
      event: function (name, data) {
        if (name !== "alarm" || !data.alarm) return;
        if (area && data.alarm.area !== area) return;
        if (SHOWN.indexOf(data.alarm.state) >= 0 || data.alarm.state === "shelved") {
          alarms[data.alarm.id] = data.alarm;
        } else {
          delete alarms[data.alarm.id];
        }
        render();
        if (data.alarm.tag && !values[key(data.alarm.agent_id, data.alarm.tag)]) quietly(loadValues());
      },
    });
  });
})();
