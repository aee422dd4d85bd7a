/* The page sections, filled from the data document, and a read-only handle for scripts. */
  // ------------------------------------------------------------------ sections
  var A = DATA.analysis || {};
  var TEXTS = {};
  DATA.examples.forEach(function (e) { TEXTS[e.id] = e.text; });
  (A.most_forgotten || []).concat(A.least_forgotten || []).forEach(function (e) { if (e.text) TEXTS[e.id] = e.text; });

  function overview() {
    var s = DATA.store;
    document.getElementById("subtitle").textContent =
      s.path + " · metric " + s.metric + " · " + s.shape[0] + " tasks × " + s.shape[1] + " examples · generated " + DATA.generated;
    var pairs = [
      ["store", s.path], ["metric", s.metric], ["tasks × examples", s.shape[0] + " × " + s.shape[1]],
      ["finished tasks", s.finished], ["measured entries", s.measured],
      ["share forgotten (> 0)", s.share_forgotten], ["mean forgetting", s.mean], ["std of forgetting", s.std],
      ["analysis", A.source === "artifact" ? "read from the store's analysis artifact (forgetmap analyze)" : "computed for this report by forgetmap.analysis.analyze"]
    ];
    var stats = A.statistics || {};
    var statPairs = [];
    Object.keys(stats).forEach(function (key) {
      var v = stats[key];
      if (["share_forgotten", "mean", "std", "measured"].indexOf(key) >= 0) return;
      if (v === null || typeof v !== "object") statPairs.push([key.replace(/_/g, " "), v]);
    });
    var body = document.getElementById("overview-body");
    var nested = Object.keys(stats).filter(function (key) {
      var v = stats[key];
      return v && typeof v === "object" && !Array.isArray(v);
    }).map(function (key) {
      return el("div", null, [el("h3", { text: key.replace(/_/g, " ") }), keyValueTable(Object.keys(stats[key]).map(function (k) { return [k, stats[key][k]]; }))]);
    });
    body.appendChild(el("div", { class: "row" }, [keyValueTable(pairs), statPairs.length ? keyValueTable(statPairs) : null].concat(nested)));
  }

  function fits() {
    var spectrum = document.getElementById("spectrum");
    var rankCount = Object.keys(A.rank_r2 || {}).length;
    var singular = (A.singular_values || []).filter(isNumber).slice(0, Math.max(30, 2 * rankCount));
    if (singular.length) spectrumChart(spectrum, singular, A.rank_r2 || {});
    else spectrum.appendChild(empty("No spectrum in the analysis."));
    var rows = [];
    var names = { row_only: "row only (task means)", column_only: "column only (example means)", additive: "additive (μ + aᵢ + bⱼ)", multiplicative: "multiplicative (rank 1)" };
    Object.keys(A.fits || {}).forEach(function (key) { rows.push({ model: names[key] || key, r2: A.fits[key] }); });
    Object.keys(A.rank_r2 || {}).sort(function (a, b) { return Number(a) - Number(b); }).forEach(function (k) {
      rows.push({ model: "rank " + k, r2: A.rank_r2[k] });
    });
    var box = document.getElementById("fit-table");
    box.appendChild(el("h3", { text: "Goodness of fit" }));
    box.appendChild(rows.length ? dataTable([{ key: "model", label: "model", text: true }, { key: "r2", label: "R²" }], rows) : empty("No fits in the analysis."));
    var settings = A.settings || {};
    var settingPairs = Object.keys(settings).map(function (k) {
      var v = settings[k];
      return [k.replace(/_/g, " "), Array.isArray(v) ? (v.length ? v.join(", ") : "none") : v];
    });
    if (settingPairs.length) {
      box.appendChild(el("h3", { text: "Analysis settings" }));
      box.appendChild(keyValueTable(settingPairs));
    }
    var residuals = A.residuals || {};
    var largest = residuals.largest || [];
    var rank1Box = document.getElementById("rank1-section");
    if (largest.length) {
      rank1Box.appendChild(el("h3", { text: "Largest residuals (mean " + fmt(residuals.mean) + ", std " + fmt(residuals.std) + ")" }));
      var rowsLargest = largest.map(function (item) {
        var row = {};
        Object.keys(item).forEach(function (k) { row[k] = item[k]; });
        row.text = TEXTS[item.example] || "";
        return row;
      });
      var keys = unionKeys(rowsLargest, ["task", "example", "residual"], ["text"]).concat(["text"]);
      rank1Box.appendChild(el("div", { class: "scroll" }, dataTable(keys.map(function (k) {
        return { key: k, text: k === "task" || k === "example" || k === "text" };
      }), rowsLargest)));
    }
  }

  function components() {
    var box = document.getElementById("components");
    var list = A.components || [];
    if (!list.length) { box.appendChild(empty("No components in the analysis.")); return; }
    var grid = el("div", { class: "grid" });
    list.forEach(function (component, position) {
      var index = position + 1;
      grid.appendChild(el("div", { class: "card" }, [
        el("h3", { text: "Component " + index + " · σ = " + fmt(component.singular_value) }),
        dataTable([{ key: "id", label: "top tasks", text: true }, { key: "loading" }], component.tasks || []),
        dataTable([{ key: "id", label: "top examples", text: true }, { key: "loading" }, { key: "text", text: true, format: function (v, row) { var t = TEXTS[row.id] || ""; return t.length > 120 ? t.slice(0, 119) + "…" : t; } }], component.examples || [])
      ]));
    });
    box.appendChild(grid);
  }

  function groups() {
    var box = document.getElementById("groups");
    var list = (A.groups || []).slice().sort(function (a, b) {
      var qa = isNumber(a.q_value) ? a.q_value : 2, qb = isNumber(b.q_value) ? b.q_value : 2;
      return qa - qb;
    });
    box.appendChild(el("h3", { text: "Groups of tasks and examples (Benjamini–Hochberg q-values)" }));
    if (list.length) {
      var fdr = isNumber((A.settings || {}).fdr) ? A.settings.fdr : 0.05;
      var significant = list.filter(function (g) {
        return "significant" in g ? g.significant === true : isNumber(g.q_value) && g.q_value <= fdr;
      }).length;
      box.appendChild(el("p", { class: "note", text: significant + " of " + list.length + " tested groups are significant at false-discovery rate " + fmt(fdr) + "; the table is sorted by q." }));
      var keys = unionKeys(list, ["axis", "field", "value", "statistic", "p_value", "q_value"]);
      box.appendChild(el("div", { class: "scroll" }, dataTable(keys.map(function (k) {
        return { key: k, label: k.replace(/_/g, " "), text: ["axis", "field", "value", "test"].indexOf(k) >= 0 };
      }), list)));
    } else box.appendChild(empty("No groups were tested (the analysis found no grouping fields)."));
    box.appendChild(el("h3", { text: "Co-clusters of tasks × examples in the residual" }));
    var clusters = A.coclusters || [];
    var level = fmt(isNumber((A.settings || {}).fdr) ? A.settings.fdr : 0.05);
    if (!clusters.length) { box.appendChild(empty("No co-cluster: no block of tasks × examples whose every member has a significantly raised residual (Benjamini–Hochberg at false-discovery rate " + level + ").")); return; }
    box.appendChild(el("p", { class: "note", text: "Each block's tasks and examples each carry a residual raised over their other examples (or tasks), Benjamini–Hochberg at false-discovery rate " + level + "; members of no block are not listed. z is the normal equivalent of a member's p-value." }));
    var members = ["tasks", "examples", "n_tasks", "n_examples", "task_statistics", "example_statistics"];
    var statColumns = function (label) {
      return [{ key: "id", label: label, text: true }, { key: "mean_residual", label: "mean residual" }, { key: "z" }, { key: "q_value", label: "q" }];
    };
    var grid = el("div", { class: "grid" });
    clusters.forEach(function (cluster, i) {
      var pairs = [["tasks", cluster.n_tasks], ["examples", cluster.n_examples]];
      Object.keys(cluster).forEach(function (key) {
        if (members.indexOf(key) < 0) pairs.push([key.replace(/_/g, " "), cluster[key]]);
      });
      var parts = [el("h3", { text: "Co-cluster " + (i + 1) }), keyValueTable(pairs)];
      [["task_statistics", "tasks", "n_tasks", "task"], ["example_statistics", "examples", "n_examples", "example"]].forEach(function (side) {
        var stats = cluster[side[0]] || [], listed = cluster[side[1]] || [];
        var more = cluster[side[2]] > Math.max(stats.length, listed.length) ? " (first " + Math.max(stats.length, listed.length) + " of " + cluster[side[2]] + ")" : "";
        if (stats.length) parts.push(el("div", { class: "scroll" }, dataTable(statColumns(side[3] + more), stats)));
        else parts.push(el("div", { class: "muted", text: side[1] + ": " + listed.join(", ") + (more ? ", …" : "") }));
      });
      grid.appendChild(el("div", { class: "card" }, parts));
    });
    box.appendChild(grid);
  }

  function examples() {
    var box = document.getElementById("examples");
    [["most_forgotten", "Most forgotten"], ["least_forgotten", "Least forgotten"]].forEach(function (pair) {
      var list = A[pair[0]] || [];
      box.appendChild(el("h3", { text: pair[1] }));
      box.appendChild(list.length ? el("div", { class: "scroll" }, dataTable(
        [{ key: "id", label: "example", text: true }, { key: "mean", label: "mean forgetting" }, { key: "text", text: true }], list)) : empty("Not in the analysis."));
    });
  }

  function tasks() {
    var box = document.getElementById("tasks");
    var list = DATA.task_stats || [];
    if (!list.length) { box.appendChild(empty("No finished tasks.")); return; }
    var sorted = list.slice().sort(function (a, b) { return (isNumber(b.mean) ? b.mean : -Infinity) - (isNumber(a.mean) ? a.mean : -Infinity); });
    barChart(box, sorted.map(function (t) { return { label: t.id, value: t.mean, err: t.std }; }), { labels: sorted.length <= 60, ylabel: "mean forgetting", width: Math.max(620, Math.min(1300, 16 * sorted.length + 80)) });
    var keys = unionKeys(list, ["id", "group", "mean", "std", "first_loss", "last_loss", "loss_drop", "steps", "tokens", "train_seconds", "score_seconds"]);
    box.appendChild(el("div", { class: "scroll" }, dataTable(keys.map(function (k) {
      return { key: k, label: k.replace(/_/g, " "), text: k === "id" || k === "group" };
    }), sorted)));
  }

  function correlations() {
    var box = document.getElementById("correlations");
    var c = A.correlations || {};
    var rows = Object.keys(c).map(function (name) {
      var entry = c[name];
      var row = { name: name };
      if (entry && typeof entry === "object") Object.keys(entry).forEach(function (k) { row[k] = entry[k]; });
      else row.value = entry;
      return row;
    });
    if (!rows.length) { box.appendChild(empty("No correlations in the analysis.")); return; }
    var keys = unionKeys(rows, ["name", "pearson", "spearman"]);
    box.appendChild(dataTable(keys.map(function (k) { return { key: k, text: k === "name" }; }), rows));
  }

  function evaluate() {
    var box = document.getElementById("evaluate");
    var doc = DATA.evaluate;
    if (!doc) { box.appendChild(empty("No evaluation results in this store: run `forgetmap evaluate RUN`, then rebuild the report.")); return; }
    var metrics = [["rmse", "min"], ["mae", "min"], ["pearson", "max"], ["spearman", "max"], ["f1", "max"], ["precision", "max"], ["recall", "max"], ["auc", "max"], ["precision_at_10", "max"], ["coverage_90", null], ["seconds", "min"]];
    var names = Object.keys(doc.methods);
    var rows = names.map(function (name) { var row = { method: name }; Object.keys(doc.methods[name] || {}).forEach(function (k) { row[k] = doc.methods[name][k]; }); return row; });
    var present = metrics.filter(function (m) { return rows.some(function (row) { return m[0] in row; }); });
    var columns = [{ key: "method", text: true }].concat(present.map(function (m) {
      return { key: m[0], label: m[0].replace(/_/g, " "), best: m[1], format: function (v, row) { var s = row[m[0] + "_std"]; return fmt(v) + (isNumber(s) ? " ± " + fmt(s) : ""); } };
    }));
    box.appendChild(el("p", { class: "note", text: "Means over seeds ± std; best per column in bold (lowest error and time, highest agreement)." }));
    box.appendChild(dataTable(columns, rows));
    var skipped = Object.keys(doc.skipped || {});
    if (skipped.length) {
      box.appendChild(el("h3", { text: "Methods not run" }));
      box.appendChild(keyValueTable(skipped.map(function (k) { return [k, doc.skipped[k]]; })));
    }
    if (doc.settings && Object.keys(doc.settings).length) {
      box.appendChild(el("h3", { text: "Protocol" }));
      box.appendChild(keyValueTable(Object.keys(doc.settings).map(function (k) { return [k, doc.settings[k]]; })));
    }
    var names2 = Object.keys(doc.scatter || {});
    if (names2.length) {
      box.appendChild(el("h3", { text: "Predicted vs true forgetting on unrevealed entries" }));
      var grid = el("div", { class: "grid" });
      names2.forEach(function (name) { scatterPlot(grid, name, doc.scatter[name]); });
      box.appendChild(grid);
    }
  }

  function replay() {
    var box = document.getElementById("replay");
    var doc = DATA.replay;
    if (!doc) { box.appendChild(empty("No replay results: run `forgetmap replay CONFIG --out DIR`, then pass --replay DIR/replay.json.")); return; }
    var rows = Object.keys(doc.samplers).map(function (name) { var row = { sampler: name }; var s = doc.samplers[name] || {}; Object.keys(s).forEach(function (k) { row[k] = s[k]; }); return row; });
    barChart(box, rows.map(function (r) { return { label: r.sampler, value: r.heldout_forgetting_mean, err: r.heldout_forgetting_std }; }), { labels: true, ylabel: "held-out forgetting", width: Math.max(360, 90 * rows.length + 80) });
    var keys = unionKeys(rows, ["sampler", "heldout_forgetting_mean", "heldout_forgetting_std", "task_loss_mean"]);
    box.appendChild(dataTable(keys.map(function (k) {
      return { key: k, label: k.replace(/_/g, " "), text: k === "sampler", best: k === "heldout_forgetting_mean" ? "min" : null };
    }), rows));
    var tests = doc.tests || [];
    box.appendChild(el("h3", { text: "Tests" }));
    if (tests.length) {
      var tkeys = unionKeys(tests, ["a", "b", "statistic", "p_value", "effect_size", "ci_low", "ci_high"]);
      box.appendChild(dataTable(tkeys.map(function (k) { return { key: k, label: k.replace(/_/g, " "), text: k === "a" || k === "b" || k === "test" }; }), tests));
    } else box.appendChild(empty("No tests in the replay results."));
  }

  function run() {
    var box = document.getElementById("run");
    var r = DATA.run || {}, env = DATA.environment || {};
    box.appendChild(keyValueTable([
      ["model", r.model], ["seed", r.seed], ["store kind", r.kind], ["created", r.created],
      ["metrics", (r.metrics || []).join(", ")], ["dtype", r.dtype], ["fingerprint", r.fingerprint],
      ["python", env.python], ["platform", env.platform]
    ]));
    var packages = env.packages || {};
    box.appendChild(el("h3", { text: "Package versions" }));
    box.appendChild(dataTable([{ key: "package", text: true }, { key: "version", text: true }],
      Object.keys(packages).map(function (k) { return { package: k, version: packages[k] === null ? "not installed" : packages[k] }; })));
    box.appendChild(el("h3", { text: "Config" }));
    box.appendChild(el("pre", { text: r.config ? JSON.stringify(r.config, null, 2) : "(none: the matrix was imported)" }));
  }

  function toc() {
    var nav = document.getElementById("toc");
    document.querySelectorAll("main section").forEach(function (section) {
      var title = section.querySelector("h2");
      nav.appendChild(el("a", { href: "#" + section.id, text: title ? title.textContent : section.id }));
    });
  }

  overview();
  setupHeatmaps();
  fits();
  components();
  groups();
  examples();
  tasks();
  correlations();
  evaluate();
  replay();
  run();
  toc();

  // A small read-only handle for scripts and tests that drive the page.
  window.forgetmapReport = {
    rowOrder: function () { return state.rows.map(function (r) { return DATA.tasks[r].id; }); },
    columnOrder: function () { return state.columns.map(function (c) { return DATA.examples[c].id; }); },
    cellCenter: function (i, j, which) { return heatmaps[which || 0].cellCenter(i, j); },
    ready: true
  };
