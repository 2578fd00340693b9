/* The approvals inbox: approvals and tasks for the user's roles, delegations and escalations,
 * with a live countdown to the due time, the snapshot (live values, inventory, supply) with the
 * age of every figure, decisions signed with reason and password, and the user's own decision
 * history. */
(function () {
  "use strict";

  var REFRESH_MS = 10000;
  var cards = document.getElementById("approval-cards");
  var taskCards = document.getElementById("task-cards");
  var info = document.getElementById("inbox-info");
  var me = null;
  var drafts = {}; // approval id -> what the user typed, kept across refreshes

  /* ---- countdowns ---- */

  function countdown(item) {
    var node = FG.el("span", { class: "countdown", "data-due": item.due_at || "", "data-overdue": item.overdue ? "1" : "" });
    paintCountdown(node);
    return node;
  }

  function paintCountdown(node) {
    var due = node.getAttribute("data-due");
    if (!due) {
      node.textContent = "no due time";
      node.className = "countdown pill pill-muted";
      return;
    }
    var left = (Date.parse(due) - FG.hubNow()) / 1000;
    if (left >= 0) {
      node.textContent = "due in " + FG.age(left);
      node.className = "countdown pill " + (left < 300 ? "pill-warn" : "pill-ok");
    } else {
      node.textContent = (node.getAttribute("data-overdue") ? "OVERDUE · " : "PAST DUE · ") + FG.age(-left) + " ago";
      node.className = "countdown pill pill-bad";
    }
  }

  function tick() {
    Array.prototype.forEach.call(document.querySelectorAll(".countdown"), paintCountdown);
    Array.prototype.forEach.call(document.querySelectorAll(".since"), function (node) {
      node.textContent = FG.age(FG.secondsSince(node.getAttribute("data-at")));
    });
  }

  function since(iso) {
    var node = FG.el("span", { class: "since", "data-at": iso, text: FG.age(FG.secondsSince(iso)) });
    return node;
  }

  function escalation(item) {
    if (!item.escalation_level) return "Not escalated";
    return "ESCALATED (level " + item.escalation_level + ") to " + item.escalated_to.join(", ") + (item.escalated_at ? " at " + FG.time(item.escalated_at) : "");
  }

  /* ---- the snapshot: every figure with its age (live values, inventory, supply) ---- */

  function dataTable(className, caption, headings, rows) {
    return FG.el("table", { class: "data " + className }, [
      FG.el("caption", { text: caption }),
      FG.el("thead", {}, [FG.el("tr", {}, headings.map(function (h) { return FG.el("th", { scope: "col", text: h }); }))]),
      FG.el("tbody", {}, rows),
    ]);
  }

  function ageCells(entry, approval) {
    return [
      FG.el("td", { text: FG.age(entry.age_seconds) + " old when captured" }),
      FG.el("td", {}, [since(approval.created_at), " ago"]),
    ];
  }

  function snapshotTable(approval, caption) {
    var snap = approval.snapshot;
    var parts = [];
    if (!snap.values.length) {
      parts.push(FG.el("p", { class: "muted", text: "No live data was attached." }));
    } else {
      parts.push(dataTable("snapshot", caption, ["Figure", "Value", "Quality", "Age of the figure", "Captured"], snap.values.map(function (v) {
        return FG.el("tr", {}, [
          FG.el("td", { class: "mono", text: v.agent_id + " / " + v.tag }),
          FG.el("td", { class: "num", text: FG.value(v.value) }),
          FG.el("td", { text: v.quality }),
        ].concat(ageCells(v, approval)));
      })));
    }
    if (snap.inventory.length) {
      parts.push(dataTable("snapshot-items inventory", "Inventory when the approval opened", ["Item", "Where", "Quantity", "From", "Age of the figure", "Captured"], snap.inventory.map(function (p) {
        return FG.el("tr", {}, [
          FG.el("td", { class: "mono", text: p.item }),
          FG.el("td", { text: [p.location, p.area, p.site].filter(Boolean).join(" · ") }),
          FG.el("td", { class: "num", text: FG.value(p.quantity) + " " + p.unit }),
          FG.el("td", { text: p.source_system }),
        ].concat(ageCells(p, approval)));
      })));
    }
    if (snap.supply.length) {
      parts.push(dataTable("snapshot-items supply", "Supplier commitments when the approval opened", ["Item", "Supplier", "Quantity", "Due", "Status", "Age of the figure", "Captured"], snap.supply.map(function (c) {
        return FG.el("tr", {}, [
          FG.el("td", { class: "mono", text: c.item }),
          FG.el("td", { text: c.supplier + " (" + c.reference + ")" }),
          FG.el("td", { class: "num", text: FG.value(c.quantity) + " " + c.unit }),
          FG.el("td", { text: FG.dateTime(c.due_at) }),
          FG.el("td", { text: c.status.replace("_", " ") }),
        ].concat(ageCells(c, approval)));
      })));
    }
    return FG.el("div", { class: "snapshots" }, parts);
  }

  /* ---- approval cards with the signature form ---- */

  function approvalCard(a) {
    var id = "a" + a.id;
    var draft = drafts[a.id] || {};
    var form = FG.el("form", { class: "sign", novalidate: true, "data-id": String(a.id) }, [
      FG.el("fieldset", { class: "decision" }, [
        FG.el("legend", { text: "Your decision" }),
        FG.el("div", { class: "segmented" }, [
          FG.el("input", { type: "radio", name: "decision", id: id + "-approve", value: "approve", checked: draft.decision === "approve" || null }),
          FG.el("label", { for: id + "-approve", text: "Approve" }),
          FG.el("input", { type: "radio", name: "decision", id: id + "-reject", value: "reject", checked: draft.decision === "reject" || null }),
          FG.el("label", { for: id + "-reject", text: "Reject" }),
        ]),
      ]),
      FG.el("label", { for: id + "-reason", text: "Reason (required)" }),
      FG.el("textarea", { id: id + "-reason", name: "reason", rows: "2", maxlength: "2000" }),
      FG.el("label", { for: id + "-password", text: "Password (your electronic signature)" }),
      FG.el("input", { id: id + "-password", name: "password", type: "password", autocomplete: "current-password" }),
      FG.el("p", { class: "meaning", text: "By signing you state: " + a.meaning }),
      FG.el("p", { class: "error", role: "alert", hidden: true }),
      FG.el("button", { type: "submit", class: "btn btn-primary", text: "Sign decision" }),
    ]);
    form.elements.reason.value = draft.reason || "";
    form.addEventListener("input", function () {
      var chosen = form.querySelector('input[name="decision"]:checked');
      drafts[a.id] = { decision: chosen ? chosen.value : null, reason: form.elements.reason.value };
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      sign(a, form);
    });
    var signed = a.signatures.map(function (s) {
      return FG.el("li", { text: s.full_name + " (" + s.user_id + ") " + s.decision + "d at " + FG.dateTime(s.signed_at) + ": " + s.reason });
    });
    return FG.el("article", { class: "card approval", "aria-labelledby": id + "-title", "data-id": String(a.id) }, [
      FG.el("div", { class: "card-head" }, [
        FG.el("h3", { id: id + "-title", text: a.title }),
        countdown(a),
      ]),
      FG.el("p", { class: "muted", text: [a.line, a.area, a.site].filter(Boolean).join(" · ") + " · " + a.mode.replace("_", " ") + " · approvers: " + a.approvers.join(", ") + (a.requested_by ? " · requested by " + a.requested_by : "") }),
      FG.el("p", {}, [
        FG.el("strong", { text: escalation(a) }),
        " · opened " + FG.time(a.created_at) + " (", since(a.created_at), " ago)",
        a.default_decision ? " · default if nobody signs: " + a.default_decision : "",
        " · you sign as " + (a.via || "—"),
      ]),
      signed.length ? FG.el("ul", { class: "signed" }, signed) : "",
      snapshotTable(a, "Live data when the approval opened"),
      form,
    ]);
  }

  function sign(a, form) {
    var error = form.querySelector(".error");
    var chosen = form.querySelector('input[name="decision"]:checked');
    var reason = form.elements.reason.value.trim();
    var password = form.elements.password.value;
    if (!chosen || !reason || !password) {
      FG.show(error, "Choose approve or reject, give a reason and enter your password.");
      return;
    }
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    FG.api("/api/v1/approvals/" + a.id + "/decide", {
      method: "POST",
      body: { decision: chosen.value, reason: reason, password: password },
      identity: true,
    }).then(
      function (result) {
        delete drafts[a.id];
        info.textContent = "Signed: " + chosen.value + " “" + a.title + "” (now " + result.status + ").";
        refresh();
      },
      function (e) {
        button.disabled = false;
        form.elements.password.value = "";
        FG.show(error, e.status === 401 ? "Wrong password: the decision was not signed." : e.detail);
      }
    );
  }

  /* ---- tasks ---- */

  function taskCard(t) {
    var id = "t" + t.id;
    var reportsEnd = (t.reports || []).indexOf("expected_end") >= 0;
    var form = FG.el("form", { class: "task-form", novalidate: true }, [
      FG.el("label", { for: id + "-note", text: t.required ? "Note" : "Note (or reason to skip)" }),
      FG.el("textarea", { id: id + "-note", name: "note", rows: "2", maxlength: "2000" }),
      reportsEnd ? FG.el("label", { for: id + "-end", text: "Expected back at (your local time; moves the planners' constraint)" }) : "",
      reportsEnd ? FG.el("input", { id: id + "-end", name: "expected_end", type: "datetime-local" }) : "",
      FG.el("p", { class: "error", role: "alert", hidden: true }),
      FG.el("div", { class: "dialog-actions" }, [
        t.required ? "" : FG.el("button", { type: "button", class: "btn btn-secondary", "data-skip": "1", text: "Skip" }),
        FG.el("button", { type: "submit", class: "btn btn-primary", text: "Complete task" }),
      ]),
    ]);
    function send(path, body) {
      FG.api("/api/v1/tasks/" + t.id + "/" + path, { method: "POST", body: body }).then(refresh, function (e) {
        FG.show(form.querySelector(".error"), e.detail);
      });
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var note = form.elements.note.value.trim();
      var body = note ? { note: note } : {};
      var end = form.elements.expected_end;
      if (end && end.value) {
        var at = new Date(end.value); // datetime-local is the browser's local time
        if (isNaN(at.getTime())) {
          FG.show(form.querySelector(".error"), "Give the expected time as date and time.");
          return;
        }
        body.expected_end = at.toISOString();
      }
      send("complete", body);
    });
    var skip = form.querySelector("[data-skip]");
    if (skip) {
      skip.addEventListener("click", function () {
        var reason = form.elements.note.value.trim();
        if (!reason) {
          FG.show(form.querySelector(".error"), "Give a reason to skip.");
          return;
        }
        send("skip", { reason: reason });
      });
    }
    return FG.el("article", { class: "card task", "aria-labelledby": id + "-title" }, [
      FG.el("div", { class: "card-head" }, [FG.el("h3", { id: id + "-title", text: t.title }), countdown(t)]),
      t.instructions ? FG.el("p", { text: t.instructions }) : "",
      FG.el("p", { class: "muted", text: [t.line, t.area, t.site].filter(Boolean).join(" · ") + " · for " + t.assignees.join(", ") + (t.required ? " · required" : " · optional") }),
      FG.el("p", {}, [FG.el("strong", { text: escalation(t) }), " · opened " + FG.time(t.created_at) + " (", since(t.created_at), " ago) · you act as " + (t.via || "—")]),
      form,
    ]);
  }

  /* ---- history ---- */

  function history(items) {
    var rows = document.getElementById("history-rows");
    FG.clear(rows);
    var mine = [];
    items.forEach(function (a) {
      a.signatures.forEach(function (s) {
        if (s.user_id === me.username) mine.push([s, a]);
      });
    });
    mine.sort(function (x, y) { return Date.parse(y[0].signed_at) - Date.parse(x[0].signed_at); });
    mine.forEach(function (pair) {
      var s = pair[0];
      var a = pair[1];
      rows.appendChild(FG.el("tr", {}, [
        FG.el("td", { text: FG.dateTime(s.signed_at) }),
        FG.el("td", { text: a.title }),
        FG.el("td", {}, [FG.el("span", { class: "pill " + (s.decision === "approve" ? "pill-ok" : "pill-bad"), text: s.decision.toUpperCase() })]),
        FG.el("td", { text: s.reason }),
        FG.el("td", { text: a.status }),
        FG.el("td", { text: s.oldest_age_seconds === null ? "—" : FG.age(s.oldest_age_seconds) }),
      ]));
    });
    if (!mine.length) rows.appendChild(FG.el("tr", {}, [FG.el("td", { colspan: "6", class: "muted", text: "You have not signed any decision yet." })]));
  }

  /* ---- refresh ---- */

  function keepFocus(render) {
    var active = document.activeElement;
    var id = active && active.id;
    render();
    if (id && document.getElementById(id)) document.getElementById(id).focus();
  }

  function refresh() {
    return Promise.all([
      FG.api("/api/v1/approvals", { query: { assigned: "me", status: "pending" } }),
      FG.api("/api/v1/tasks", { query: { assigned: "me", status: "open" } }),
      FG.api("/api/v1/approvals", { query: { assigned: "scope", status: ["approved", "rejected", "pending", "cancelled"], limit: 200 } }),
    ]).then(
      function (replies) {
        var approvals = replies[0].items.filter(function (a) { return a.can_sign; });
        var tasks = replies[1].items.filter(function (t) { return t.can_act; });
        keepFocus(function () {
          FG.clear(cards);
          approvals.forEach(function (a) { cards.appendChild(approvalCard(a)); });
          if (!approvals.length) cards.appendChild(FG.el("p", { class: "empty", text: "No approval is waiting for you." }));
          FG.clear(taskCards);
          tasks.forEach(function (t) { taskCards.appendChild(taskCard(t)); });
          if (!tasks.length) taskCards.appendChild(FG.el("p", { class: "empty", text: "No task is waiting for you." }));
        });
        history(replies[2].items);
        info.textContent = approvals.length + " approvals and " + tasks.length + " tasks for " + me.username + " (" + me.role + "), updated " + FG.time(new Date(FG.hubNow()).toISOString());
      },
      function (e) {
        info.textContent = "Could not refresh: " + (e.detail || e.message) + ". Showing what was last loaded.";
      }
    );
  }

  function delegations() {
    FG.api("/api/v1/delegations").then(function (list) {
      var active = list.filter(function (d) { return d.active && d.to_user === me.username; });
      document.getElementById("delegations").textContent = active.length
        ? "Acting for: " + active.map(function (d) { return d.from_user + " as " + d.role + " until " + FG.dateTime(d.ends_at); }).join("; ")
        : "";
    }, function () {});
  }

  FG.start(function (user) {
    me = user;
    setInterval(tick, 1000);
    refresh();
    delegations();
    // Re-read often, but not while someone is typing a decision.
    setInterval(function () {
      var typing = document.activeElement && document.activeElement.closest && document.activeElement.closest("form.sign, form.task-form");
      if (!typing) refresh();
    }, REFRESH_MS);
  });
})();
