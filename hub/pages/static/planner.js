/* The planner board: per line, the live constraint (available / reduced / unavailable, lots on
 * hold), plan against actual for the current shift as a server-rendered SVG chart with the
 * projected shortfall at shift end, and the open decisions that affect the line.
 *
 * Constraints: GET /api/v1/constraints, live over /api/v1/constraints/stream. Plans:
 * GET /api/v1/plans (entries with line, start, end, planned rate or quantity, counter tag).
 * Until a plan names the line's counter, ?counter=TAG&rate=N&shift=HH:MM-HH:MM (or ISO/ISO)
 * set it here.
 */
(function () {
  "use strict";

  var CHART_EVERY_MS = 30000;
  var DECISIONS_EVERY_MS = 5000;
  var params = new URLSearchParams(window.location.search);
  var state = { constraints: [], plans: [], approvals: [], tasks: [], lines: {} };
  var charts = {}; // line -> PlannerChart
  var box = document.getElementById("lines");
  var info = document.getElementById("planner-info");
  var feedProblems = {};

  function items(reply) {
    return Array.isArray(reply) ? reply : (reply && reply.items) || [];
  }

  function problem(name, text) {
    if (text) feedProblems[name] = text;
    else delete feedProblems[name];
    var all = Object.keys(feedProblems).map(function (k) { return feedProblems[k]; });
    var banner = document.getElementById("feed-banner");
    banner.hidden = !all.length;
    document.getElementById("feed-banner-text").textContent = all.join(" ");
  }

  /* ---- the current shift of a line ---- */

  function todayAt(hhmm, dayOffset) {
    var parts = hhmm.split(":");
    var d = new Date(FG.hubNow());
    d.setHours(parseInt(parts[0], 10), parseInt(parts[1] || "0", 10), 0, 0);
    d.setDate(d.getDate() + (dayOffset || 0));
    return d;
  }

  function shiftOf(line) {
    var now = FG.hubNow();
    var plan = state.plans.filter(function (p) {
      return p.line === line && Date.parse(p.start || p.planned_start) <= now && now < Date.parse(p.end || p.planned_end);
    })[0];
    if (plan) {
      var start = plan.start || plan.planned_start;
      var end = plan.end || plan.planned_end;
      var hours = (Date.parse(end) - Date.parse(start)) / 3600000;
      var rate = plan.planned_rate_per_hour || plan.planned_rate || (plan.planned_quantity ? plan.planned_quantity / hours : 0);
      return { start: start, end: end, rate: rate, tag: plan.counter_tag || params.get("counter"), product: plan.product, lot: plan.lot };
    }
    var shift = params.get("shift");
    if (!shift || !params.get("counter")) return null;
    var s, e;
    if (shift.indexOf("/") > 0) {
      s = new Date(shift.split("/")[0]);
      e = new Date(shift.split("/")[1]);
    } else {
      var range = shift.split("-");
      s = todayAt(range[0]);
      e = todayAt(range[1]);
      if (e <= s) e = todayAt(range[1], 1);
    }
    return { start: s.toISOString(), end: e.toISOString(), rate: parseFloat(params.get("rate") || "0"), tag: params.get("counter") };
  }

  /* ---- constraint status: colour, icon and word ---- */

  var STATUS = {
    available: ["comm-up", "AVAILABLE", "pill-ok"],
    reduced: ["sev-high", "REDUCED", "pill-warn"],
    unavailable: ["comm-down", "UNAVAILABLE", "pill-bad"],
  };

  function constraintsOf(line) {
    return state.constraints.filter(function (c) { return c.line === line && !c.ended_at; });
  }

  function statusBadge(line) {
    var active = constraintsOf(line);
    var worst = "available";
    active.forEach(function (c) {
      if (c.status === "unavailable" || (c.status === "reduced" && worst === "available")) worst = c.status;
    });
    var s = STATUS[worst] || STATUS.available;
    return FG.el("span", { class: "pill status " + s[2] }, [
      FG.el("img", { class: "icon", src: "/static/icons/" + s[0] + ".svg", alt: "", width: "20", height: "20" }),
      " " + s[1],
    ]);
  }

  function constraintList(line) {
    var active = constraintsOf(line);
    if (!active.length) return FG.el("p", { class: "muted", text: "No constraint on this line." });
    return FG.el("ul", { class: "constraints" }, active.map(function (c) {
      var impact = c.capacity_impact_percent !== undefined ? c.capacity_impact_percent : c.capacity_impact;
      return FG.el("li", {}, [
        FG.el("strong", { text: (c.status || "").toUpperCase() }),
        impact !== undefined && impact !== null ? " · capacity −" + impact + "%" : "",
        c.equipment ? " · " + c.equipment : "",
        c.lot ? " · LOT ON HOLD " + c.lot : "",
        " · " + (c.reason || ""),
        c.expected_end ? " · expected end " + FG.time(c.expected_end) : "",
        c.created_at ? " · since " + FG.time(c.created_at) : "",
      ]);
    }));
  }

  /* ---- open decisions ---- */

  function decisionsOf(line) {
    var open = state.approvals.filter(function (a) { return a.line === line; }).map(function (a) { return ["Approval", a]; })
      .concat(state.tasks.filter(function (t) { return t.line === line; }).map(function (t) { return ["Task", t]; }));
    if (!open.length) return FG.el("p", { class: "muted", text: "No open decision." });
    return FG.el("ul", { class: "decisions" }, open.map(function (pair) {
      var item = pair[1];
      var due = item.due_at ? (Date.parse(item.due_at) - FG.hubNow()) / 1000 : null;
      return FG.el("li", {}, [
        FG.el("strong", { text: pair[0] + ": " + item.title }),
        due === null ? "" : due >= 0 ? " · due in " + FG.age(due) : " · OVERDUE " + FG.age(-due),
        item.escalation_level ? " · escalated" : "",
        " · " + (pair[0] === "Approval" ? item.approvers.join(", ") : item.assignees.join(", ")),
      ]);
    }));
  }

  /* ---- the chart (SVG made by the hub) ---- */

  function chartNode(line) {
    var c = charts[line];
    var holder = FG.el("div", { class: "chart-box" });
    if (!c) {
      holder.appendChild(FG.el("p", { class: "muted", text: shiftOf(line) ? "Loading plan against actual…" : "No plan for the current shift." }));
      return holder;
    }
    var svg = new DOMParser().parseFromString(c.svg, "image/svg+xml").documentElement;
    holder.appendChild(document.importNode(svg, true));
    holder.appendChild(FG.el("dl", { class: "figures" }, [
      FG.el("dt", { text: "Planned by now" }), FG.el("dd", { text: fmt(c.planned_by_now) }),
      FG.el("dt", { text: "Produced" }), FG.el("dd", { text: fmt(c.produced) }),
      FG.el("dt", { text: "Rate now" }), FG.el("dd", { text: c.rate_per_hour === null ? "—" : fmt(c.rate_per_hour) + "/h (plan " + fmt(c.planned_rate_per_hour) + "/h)" }),
      FG.el("dt", { text: "Projected at shift end" }), FG.el("dd", { text: fmt(c.projected_total) + " of " + fmt(c.planned_total) }),
      FG.el("dt", { text: "Projected shortfall" }), FG.el("dd", { class: c.shortfall > 0 ? "shortfall" : "", text: fmt(c.shortfall) }),
    ]));
    return holder;
  }

  function fmt(n) {
    return Math.round(n).toLocaleString("en");
  }

  function loadChart(line) {
    var shift = shiftOf(line);
    if (!shift || !shift.tag) return Promise.resolve();
    return FG.api("/api/v1/pages/planner/chart", {
      query: { line: line, tag: shift.tag, start: shift.start, end: shift.end, planned_rate_per_hour: shift.rate },
    }).then(function (c) {
      charts[line] = c;
      render();
    }, function (e) {
      problem("chart", "Plan against actual unavailable: " + e.detail);
    });
  }

  /* ---- the board ---- */

  function lines() {
    var all = {};
    state.constraints.forEach(function (c) { if (c.line) all[c.line] = true; });
    state.plans.forEach(function (p) { if (p.line) all[p.line] = true; });
    state.approvals.concat(state.tasks).forEach(function (x) { if (x.line) all[x.line] = true; });
    Object.keys(state.lines).forEach(function (l) { all[l] = true; });
    return Object.keys(all).sort();
  }

  function render() {
    FG.clear(box);
    var names = lines();
    names.forEach(function (line) {
      var id = "line-" + line.replace(/[^A-Za-z0-9_-]/g, "_");
      var shift = shiftOf(line);
      box.appendChild(FG.el("article", { class: "card line-card", "aria-labelledby": id, "data-line": line }, [
        FG.el("div", { class: "card-head" }, [FG.el("h2", { id: id, text: "Line " + line }), statusBadge(line)]),
        shift ? FG.el("p", { class: "muted", text: "Shift " + FG.time(shift.start) + "–" + FG.time(shift.end) + (shift.product ? " · " + shift.product : "") + (shift.lot ? " · lot " + shift.lot : "") }) : "",
        FG.el("div", { class: "grid-2" }, [
          chartNode(line),
          FG.el("div", {}, [
            FG.el("h3", { text: "Constraints" }), constraintList(line),
            FG.el("h3", { text: "Open decisions" }), decisionsOf(line),
          ]),
        ]),
      ]));
    });
    if (!names.length) box.appendChild(FG.el("p", { class: "empty", text: "No line has a plan, a constraint or an open decision." }));
    info.textContent = names.length + " lines · updated " + FG.time(new Date(FG.hubNow()).toISOString());
  }

  function optional(path, query, name) {
    return FG.api(path, { query: query }).then(function (reply) {
      problem(name, null);
      return items(reply);
    }, function (e) {
      problem(name, e.status === 404 ? "The hub has no " + name + " feed yet." : "The " + name + " feed failed: " + e.detail + ".");
      return null;
    });
  }

  function loadConstraints() {
    return optional("/api/v1/constraints", {}, "constraints").then(function (list) {
      if (list) state.constraints = list;
      render();
    });
  }

  function loadDecisions() {
    return Promise.all([
      optional("/api/v1/approvals", { assigned: "scope", status: "pending", limit: 500 }, "approvals"),
      optional("/api/v1/tasks", { assigned: "scope", status: "open", limit: 500 }, "tasks"),
      optional("/api/v1/plans", {}, "plans"),
      FG.api("/api/v1/values", { query: { limit: 1000 } }).then(items, function () { return []; }),
    ]).then(function (r) {
      if (r[0]) state.approvals = r[0];
      if (r[1]) state.tasks = r[1];
      if (r[2]) state.plans = r[2];
      var explicit = params.get("line");
      state.lines = {};
      if (explicit) state.lines[explicit] = true;
      r[3].forEach(function (v) { if (v.line && (!explicit || v.line === explicit)) state.lines[v.line] = true; });
      render();
    });
  }

  function loadCharts() {
    return Promise.all(lines().map(loadChart));
  }

  FG.start(function () {
    loadConstraints();
    loadDecisions().then(loadCharts);
    setInterval(function () { loadDecisions(); }, DECISIONS_EVERY_MS);
    setInterval(loadCharts, CHART_EVERY_MS);
    if (FG.can("stream_constraints")) {
      FG.liveStream("/api/v1/constraints/stream", {
        open: function () { problem("stream", null); loadConstraints(); },
        lost: function () { problem("stream", "Live constraints lost: the board may be out of date; reconnecting."); },
        event: function () { loadConstraints(); loadCharts(); },
      });
    }
  });
})();
