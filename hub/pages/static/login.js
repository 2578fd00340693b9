/* The sign-in page: exchange user name and password for a session token, then go on to the
 * page asked for (or the page of the user's role). */
(function () {
  "use strict";
  var form = document.getElementById("login-form");
  var error = document.getElementById("login-error");
  var submit = document.getElementById("login-submit");

  function landing(me) {
    var next = FG.safeNext(new URLSearchParams(window.location.search).get("next"));
    if (next && next.indexOf("/login") !== 0) return next;
    if (me.role === "panel") return "/hmi";
    if (me.operations.indexOf("ack_alarm") >= 0 && me.role !== "supervisor" && me.role !== "admin") {
      return "/hmi";
    }
    if (me.role === "planner") return "/planner";
    return "/approvals";
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var username = form.elements.username.value.trim();
    var password = form.elements.password.value;
    if (!username || !password) {
      FG.show(error, "Enter your user name and password.");
      return;
    }
    submit.disabled = true;
    FG.show(error, "");
    fetch("/api/v1/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: username, password: password }),
      credentials: "omit",
    })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.detail || "sign-in failed");
          FG.saveSession({ token: body.token, expires_at: body.expires_at, username: username });
          return FG.api("/api/v1/me");
        });
      })
      .then(function (me) {
        window.location.assign(landing(me));
      })
      .catch(function (e) {
        submit.disabled = false;
        form.elements.password.value = "";
        FG.show(error, e.message === "Failed to fetch" ? "Cannot reach the hub." : e.message);
        form.elements.password.focus();
      });
  });
  form.elements.username.focus();
})();
