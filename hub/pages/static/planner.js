/* The planner board: per line, the live constraints (available / reduced / unavailable, lots
 * on hold), plan against actual for the current shift (a chart the hub draws as SVG, with the
 * projected shortfall at shift end), and the open decisions that affect the line.
 *
 * Three feeds, each as the hub publishes it:
 * - constraints: GET /api/v1/constraints (a ConstraintBoard), then every change live from
 *   /api/v1/constraints/stream (event "constraint": {change: opened|ended, at, constraint});
 * - plan against actual: GET /api/v1/pages/planner (a PlannerBoard), then live from
 *   /api/v1/pages/planner/stream (event "board": the whole PlannerBoard, sent after every plan
 *   upload and as the counts move);
 * - open decisions: /api/v1/approvals and /api/v1/tasks, re-read when the planner stream says
 *   one opened or closed (event "decisions"), and every 30 s in case the stream is down.
 */
(function () {
  "use strict";

  var DECISIONS_EVERY_MS = 30000;
  var state = { constraints: {}, board: null, approvals: [], tasks: [] };
  var box = document.getElementById("lines");
  var info = document.getElementById("planner-info");
  var feedProblems = {};

  function problem(name, text) {
    if (text) feedProblems[name] = text;
    else delete feedProblems[name];
    var all = Object.keys(feedProblems).map(function (k) { return feedProblems[k]; });
    var banner = document.getElementById("feed-banner");
    banner.hidden = !all.length;
    document.getElementById("feed-banner-text").textContent = all.join(" ");
  }

  /* Lines are keyed by site and line; a constraint on equipment outside any line is shown
   * under its equipment. */
  function keyOf(site, line) {
    return (site || "") + "\u0000" + line;
  }

  function constraintKey(c) {
    return keyOf(c.site, c.line || c.equipment || "(no line)");
  }

  /* ---- constraint status: icon, word and colour (never colour alone) ---- */

  var STATUS = {
    available: { icon: "comm-up", word: "AVAILABLE", pill: "pill-ok" },
    lot_held: { icon: "sev-medium", word: "LOT ON HOLD", pill: "pill-warn" },
    reduced: { icon: "sev-high", word: "REDUCED", pill: "pill-warn" },
    unavailable: { icon: "comm-down", word: "UNAVAILABLE", pill: "pill-bad" },
  };
  var WORST_LAST = ["available", "lot_held", "reduced", "unavailable"];

  function constraintsOf(key) {
    return Object.keys(state.constraints)
      .map(function (id) { return state.constraints[id]; })
      .filter(function (c) { return constraintKey(c) === key && !c.ended_at; })
      .sort(function (a, b) { return Date.parse(b.started_at) - Date.parse(a.started_at); });
  }

  function statusBadge(active) {
    var worst = "available";
    active.forEach(function (c) {
      if (WORST_LAST.indexOf(c.status) > WORST_LAST.indexOf(worst)) worst = c.status;
    });
    var s = STATUS[worst];
    return FG.el("span", { class: "pill status " + s.pill }, [
      FG.el("img", { class: "icon", src: "/static/icons/" + s.icon + ".svg", alt: "", width: "20", height: "20" }),
      " " + s.word,
    ]);
  }

  function constraintList(active) {
    if (!active.length) return FG.el("p", { class: "muted", text: "No constraint on this line." });
    return FG.el("ul", { class: "constraints" }, active.map(function (c) {
      var s = STATUS[c.status] || { word: String(c.status).toUpperCase() };
      return FG.el("li", { "data-constraint": String(c.id) }, [
        FG.el("strong", { text: s.word }),
        c.capacity_impact_percent !== null ? " · capacity −" + c.capacity_impact_percent + "%" : "",
        c.equipment && c.equipment !== c.line ? " · " + c.equipment : "",
        c.lot ? " · lot " + c.lot + (c.lot_held ? " on hold" : "") : "",
        " · " + c.reason,
        " · since " + FG.time(c.started_at),
        c.expected_end ? " · expected end " + FG.time(c.expected_end) : "",
      ]);
    }));
  }

  /* ---- open decisions ---- */

  function decisionsOf(key) {
    var open = state.approvals
      .filter(function (a) { return a.line && keyOf(a.site, a.line) === key; })
      .map(function (a) { return ["Approval", a, a.approvers]; })
      .concat(state.tasks
        .filter(function (t) { return t.line && keyOf(t.site, t.line) === key; })
        .map(function (t) { return ["Task", t, t.assignees]; }));
    if (!open.length) return FG.el("p", { class: "muted", text: "No open decision." });
    return FG.el("ul", { class: "decisions" }, open.map(function (triple) {
      var item = triple[1];
      var due = item.due_at ? (Date.parse(item.due_at) - FG.hubNow()) / 1000 : null;
      return FG.el("li", {}, [
        FG.el("strong", { text: triple[0] + ": " + item.title }),
        due === null ? "" : due >= 0 ? " · due in " + FG.age(due) : " · OVERDUE " + FG.age(-due),
        item.escalation_level ? " · escalated" : "",
        " · " + triple[2].join(", "),
      ]);
    }));
  }

  /* ---- plan against actual (figures and SVG made by the hub) ---- */

  function fmt(n) {
    return Math.round(n).toLocaleString("en");
  }

  function shiftText(line) {
    var products = [];
    line.entries.forEach(function (e) {
      var text = e.product + (e.lot ? " lot " + e.lot : "");
      if (products.indexOf(text) < 0) products.push(text);
    });
    return "Shift " + (line.shift ? line.shift + " " : "") + FG.time(line.start) + "–" +
      FG.time(line.end) + (products.length ? " · " + products.join(", ") : "");
  }

  function chartNode(line) {
    var holder = FG.el("div", { class: "chart-box" });
    if (!line) {
      holder.appendChild(FG.el("p", { class: "muted", text: state.board ? "No plan for the current shift." : "Loading plan against actual…" }));
      return holder;
    }
    var svg = new DOMParser().parseFromString(line.svg, "image/svg+xml").documentElement;
    holder.appendChild(document.importNode(svg, true));
    var rows = [
      ["Planned by now", fmt(line.planned_by_now) + " of " + fmt(line.planned_total)],
    ];
    if (line.counter_tag === null) {
      rows.push(["Produced", "no counter configured for this line (planner.lines)"]);
    } else {
      rows.push(["Produced", fmt(line.produced)]);
      rows.push(["Rate now", (line.rate_per_hour === null ? "—" : fmt(line.rate_per_hour) + "/h") +
        " (plan " + fmt(line.planned_rate_per_hour) + "/h)"]);
      rows.push(["Projected at shift end", fmt(line.projected_total) + " of " + fmt(line.planned_total)]);
    }
    var dl = FG.el("dl", { class: "figures" });
    rows.forEach(function (r) {
      dl.appendChild(FG.el("dt", { text: r[0] }));
      dl.appendChild(FG.el("dd", { text: r[1] }));
    });
    if (line.counter_tag !== null) {
      dl.appendChild(FG.el("dt", { text: "Projected shortfall" }));
      dl.appendChild(FG.el("dd", { class: line.shortfall > 0 ? "shortfall" : "", text: fmt(line.shortfall) }));
    }
    holder.appendChild(dl);
    return holder;
  }

  /* ---- the board ---- */

  function render() {
    var cards = {};
    function card(site, line) {
      var key = keyOf(site, line);
      if (!cards[key]) cards[key] = { site: site, line: line, plan: null };
      return cards[key];
    }
    (state.board ? state.board.lines : []).forEach(function (l) { card(l.site, l.line).plan = l; });
    Object.keys(state.constraints).forEach(function (id) {
      var c = state.constraints[id];
      card(c.site, c.line || c.equipment || "(no line)");
    });
    state.approvals.concat(state.tasks).forEach(function (x) { if (x.line) card(x.site, x.line); });
    var sites = {};
    Object.keys(cards).forEach(function (k) { sites[cards[k].site || ""] = true; });
    var manySites = Object.keys(sites).length > 1;

    FG.clear(box);
    var keys = Object.keys(cards).sort();
    keys.forEach(function (key, index) {
      var c = cards[key];
      var id = "line-" + index;
      var active = constraintsOf(key);
      box.appendChild(FG.el("article", { class: "card line-card", "aria-labelledby": id, "data-line": c.line, "data-site": c.site || "" }, [
        FG.el("div", { class: "card-head" }, [
          FG.el("h2", { id: id, text: (manySites && c.site ? c.site + " · " : "") + "Line " + c.line }),
          statusBadge(active),
        ]),
        c.plan ? FG.el("p", { class: "muted shift", text: shiftText(c.plan) }) : "",
        FG.el("div", { class: "grid-2" }, [
          chartNode(c.plan),
          FG.el("div", {}, [
            FG.el("h3", { text: "Constraints" }), constraintList(active),
            FG.el("h3", { text: "Open decisions" }), decisionsOf(key),
          ]),
        ]),
      ]));
    });
    if (!keys.length) box.appendChild(FG.el("p", { class: "empty", text: "No line has a plan, a constraint or an open decision." }));
    info.textContent = keys.length + (keys.length === 1 ? " line" : " lines") + " · updated " + FG.time(new Date(FG.hubNow()).toISOString());
  }

  /* ---- feeds ---- */

  function read(path, query, name) {
    return FG.api(path, { query: query }).then(function (reply) {
      problem(name, null);
      return reply;
    }, function (e) {
      problem(name, "The " + name + " feed failed: " + e.detail + ".");
      return null;
    });
  }

  function loadConstraints() {
    return read("/api/v1/constraints", {}, "constraints").then(function (board) {
      if (!board) return;
      state.constraints = {};
      board.constraints.forEach(function (c) { state.constraints[c.id] = c; });
      render();
    });
  }

  function applyConstraintChange(data) {
    var c = data.constraint;
    if (data.change === "opened" && !c.ended_at) state.constraints[c.id] = c;
    else delete state.constraints[c.id];
    render();
  }

  function loadPlanner() {
    return read("/api/v1/pages/planner", {}, "plan").then(function (board) {
      if (board) {
        state.board = board;
        render();
      }
    });
  }

  function loadDecisions() {
    return Promise.all([
      read("/api/v1/approvals", { assigned: "scope", status: "pending", limit: 500 }, "approvals"),
      read("/api/v1/tasks", { assigned: "scope", status: "open", limit: 500 }, "tasks"),
    ]).then(function (r) {
      if (r[0]) state.approvals = r[0].items;
      if (r[1]) state.tasks = r[1].items;
      render();
    });
  }

  FG.start(function () {
    loadConstraints();
    loadPlanner();
    loadDecisions();
    setInterval(loadDecisions, DECISIONS_EVERY_MS);
    // A role without the streams (a panel device sent here by hand) gets the first read only.
    if (FG.can("stream_constraints")) {
      FG.liveStream("/api/v1/constraints/stream", {
        // Re-read once subscribed: changes made while disconnected are not replayed.
        open: function () { problem("constraints-live", null); loadConstraints(); },
        lost: function () { problem("constraints-live", "Live constraints lost: the board may be out of date; reconnecting."); },
        event: function (name, data) { if (name === "constraint") applyConstraintChange(data); },
      });
    }
    if (FG.can("stream_planner")) {
      FG.liveStream("/api/v1/pages/planner/stream", {
        open: function () { problem("plan-live", null); loadDecisions(); },
        lost: function () { problem("plan-live", "Live plan against actual lost: figures may be out of date; reconnecting."); },
        event: function (name, data) {
          if (name === "board") {
            state.board = data;
            render();
          } else if (name === "decisions") {
            loadDecisions();
          }
        },
      });
    }
  });
})();
