/* The audit trail: verify status, search in chain order, and the plan-to-outcome chain of one
 * alarm occurrence (?alarm=ID). */
(function () {
  "use strict";

  var STAGES = {
    exception: "Exception",
    response: "Response at the panel",
    task: "Task",
    decision: "Decision",
    action: "Action",
    outcome: "Outcome",
    other: "Other",
  };
  var form = document.getElementById("search-form");
  var rows = document.getElementById("audit-rows");
  var info = document.getElementById("search-info");
  var more = document.getElementById("load-more");
  var next = null;
  var query = {};
  var shown = 0;

  function summary(value) {
    if (value === null || value === undefined) return "";
    var text = JSON.stringify(value);
    return text.length > 160 ? text.slice(0, 157) + "…" : text;
  }

  function objectCell(record) {
    var label = record.object_type + " " + record.object_id;
    if (record.object_type === "alarm") {
      return FG.el("a", { href: "/audit?alarm=" + encodeURIComponent(record.object_id), text: label });
    }
    return label;
  }

  function matches(record, text) {
    if (!text) return true;
    return JSON.stringify(record).toLowerCase().indexOf(text.toLowerCase()) >= 0;
  }

  function row(record) {
    var details = record.data !== null || record.after !== null
      ? FG.el("details", {}, [
          FG.el("summary", { text: summary(record.data) || "details" }),
          FG.el("pre", { class: "mono", text: JSON.stringify({ before: record.before, after: record.after, data: record.data }, null, 2) }),
        ])
      : "";
    return FG.el("tr", {}, [
      FG.el("td", { class: "mono", text: String(record.seq) }),
      FG.el("td", { text: FG.dateTime(record.at) }),
      FG.el("td", { text: record.actor }),
      FG.el("td", { text: record.action }),
      FG.el("td", {}, [objectCell(record)]),
      FG.el("td", { text: record.reason || "" }),
      FG.el("td", {}, [details]),
    ]);
  }

  function iso(local) {
    return local ? new Date(local).toISOString() : undefined;
  }

  function load(reset) {
    if (reset) {
      FG.clear(rows);
      next = null;
      shown = 0;
    }
    var params = Object.assign({ limit: 200, after: next || undefined }, query.api);
    info.textContent = "Loading…";
    return FG.api("/api/v1/audit", { query: params }).then(
      function (page) {
        page.items.filter(function (r) { return matches(r, query.text); }).forEach(function (r) {
          rows.appendChild(row(r));
          shown += 1;
        });
        next = page.next;
        more.hidden = !next;
        info.textContent = shown + " record" + (shown === 1 ? "" : "s") + " in chain order (oldest first)" + (next ? "; more available" : "");
      },
      function (error) {
        info.textContent = error.status === 403 ? "Your role may not read the audit trail." : "Search failed: " + error.detail;
      }
    );
  }

  function search() {
    var e = form.elements;
    query = {
      api: {
        actor: e.actor.value.trim() || undefined,
        object_type: e.object_type.value || undefined,
        object_id: e.object_id.value.trim() || undefined,
        since: iso(e.since.value),
        until: iso(e.until.value),
      },
      text: e.text.value.trim(),
    };
    return load(true);
  }

  function verify() {
    var node = document.getElementById("verify-status");
    node.textContent = "Checking…";
    FG.api("/api/v1/audit/verify").then(
      function (reply) {
        FG.clear(node);
        if (reply.ok) {
          node.appendChild(FG.el("span", { class: "pill pill-ok", text: "✔ VERIFIED" }));
          node.appendChild(document.createTextNode(" " + reply.records + " records, unbroken. Head " + (reply.head || "—").slice(0, 16) + "…"));
        } else {
          node.appendChild(FG.el("span", { class: "pill pill-bad", text: "✖ BROKEN" }));
          node.appendChild(document.createTextNode(" at record " + reply.first_bad + ": " + reply.reason + " (" + reply.records + " good records before it)"));
        }
      },
      function (error) {
        FG.clear(node);
        node.appendChild(FG.el("span", { class: "pill pill-muted", text: "NOT CHECKED" }));
        node.appendChild(document.createTextNode(error.status === 403 ? " Verifying the chain is for supervisors and admins." : " " + error.detail));
      }
    );
  }

  /* ---- the chain of one occurrence ---- */

  function signatureLines(record) {
    var d = record.data || {};
    var parts = [];
    ["full_name", "meaning", "decision", "via", "record_hash", "evidence_hash"].forEach(function (k) {
      if (d[k] !== undefined && d[k] !== null) parts.push(k.replace("_", " ") + ": " + (String(d[k]).length > 24 ? String(d[k]).slice(0, 16) + "…" : d[k]));
    });
    return parts.join(" · ");
  }

  function showChain(alarmId) {
    document.getElementById("chain-view").hidden = false;
    document.getElementById("search-view").hidden = true;
    var list = document.getElementById("chain-list");
    var title = document.getElementById("chain-title");
    title.textContent = "Occurrence chain of alarm " + alarmId;
    FG.api("/api/v1/pages/chain/" + encodeURIComponent(alarmId)).then(
      function (chain) {
        FG.clear(list);
        var counts = {};
        var stage = null;
        chain.entries.forEach(function (entry) {
          var r = entry.record;
          counts[entry.stage] = (counts[entry.stage] || 0) + 1;
          if (entry.stage !== stage) {
            stage = entry.stage;
          }
          var extra = entry.stage === "decision" ? signatureLines(r) : "";
          list.appendChild(FG.el("li", { class: "chain-item stage-" + entry.stage }, [
            FG.el("span", { class: "pill stage-pill", text: STAGES[entry.stage] }),
            " ",
            FG.el("strong", { text: r.action }),
            " · " + FG.dateTime(r.at) + " · " + r.actor,
            r.reason ? " · “" + r.reason + "”" : "",
            r.data && r.data.note ? " · note: " + r.data.note : "",
            extra ? FG.el("div", { class: "muted mono", text: extra }) : "",
            FG.el("div", { class: "muted mono", text: "#" + r.seq + " " + r.hash.slice(0, 16) + "…" }),
          ]));
        });
        var first = chain.entries.length ? chain.entries[0].record : null;
        var what = first && first.data ? [first.data.rule, first.data.tag, first.data.severity].filter(Boolean).join(" · ") : "";
        document.getElementById("chain-summary").textContent =
          (what ? what + ". " : "") + chain.entries.length + " records: " +
          Object.keys(STAGES).filter(function (s) { return counts[s]; }).map(function (s) { return STAGES[s] + " " + counts[s]; }).join(", ") +
          (chain.truncated ? " (truncated)" : "");
        renderRuns(chain.run_ids);
      },
      function (error) {
        FG.clear(list);
        list.appendChild(FG.el("li", { text: error.status === 404 ? "No alarm " + alarmId + " in your scope." : error.detail }));
      }
    );
  }

  function renderRuns(runIds) {
    var box = document.getElementById("chain-runs");
    FG.clear(box);
    runIds.forEach(function (runId) {
      FG.api("/api/v1/runs/" + runId).then(function (run) {
        var o = run.outcome || {};
        var times = [
          ["to acknowledge", o.seconds_to_acknowledge],
          ["to notify all", o.seconds_to_notify_all],
          ["to decide", o.seconds_to_decide],
          ["to resolve", o.seconds_to_resolve],
        ].filter(function (t) { return t[1] !== null && t[1] !== undefined; })
          .map(function (t) { return FG.age(t[1]) + " " + t[0]; });
        box.appendChild(FG.el("div", { class: "run-summary" }, [
          FG.el("strong", { text: "Playbook " + run.playbook_id + " (run " + run.id + ", policy " + String(run.policy_version).slice(0, 12) + ")" }),
          " · " + run.status + (o.resolution_code ? " · resolved: " + o.resolution_code + " by " + o.resolved_by : ""),
          FG.el("div", { class: "muted", text: run.tasks.length + " tasks, " + run.approvals.length + " approvals, " + run.actions.length + " actions" + (times.length ? " · " + times.join(", ") : "") }),
        ]));
      }, function () { /* the audit records above still tell the chain */ });
    });
  }

  FG.start(function () {
    verify();
    document.getElementById("verify-again").addEventListener("click", verify);
    var alarm = new URLSearchParams(window.location.search).get("alarm");
    if (alarm) {
      showChain(alarm);
      return;
    }
    var since = new Date(FG.hubNow() - 3600 * 1000);
    since.setSeconds(0, 0);
    var local = new Date(since.getTime() - since.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
    form.elements.since.value = local;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      search();
    });
    document.getElementById("show-chain").addEventListener("click", function () {
      var id = form.elements.alarm.value.trim();
      if (id) window.location.assign("/audit?alarm=" + encodeURIComponent(id));
    });
    more.addEventListener("click", function () { load(false); });
    search();
  });
})();
