/* Small SVG and canvas charts: spectrum, bars, predicted-vs-true scatter. */
  // ------------------------------------------------------------------ charts (SVG)
  function axisTicks(lo, hi, count) {
    if (!(hi > lo)) return [lo];
    var step = Math.pow(10, Math.floor(Math.log10((hi - lo) / count)));
    var err = (count * step) / (hi - lo);
    if (err <= 0.15) step *= 10; else if (err <= 0.35) step *= 5; else if (err <= 0.75) step *= 2;
    var ticks = [];
    // Ticks as whole multiples of the step (a running sum drifts: 0 came out as 1.39e-17).
    for (var i = Math.ceil(lo / step); i * step <= hi + 1e-12; i++) ticks.push(Number((i * step).toPrecision(12)));
    return ticks;
  }

  function spectrumChart(container, singular, rankR2) {
    var W = 620, H = 280, m = { l: 56, r: 50, t: 12, b: 40 };
    var pw = W - m.l - m.r, ph = H - m.t - m.b, n = singular.length;
    var node = svg("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img" });
    var top = Math.max.apply(null, singular.concat([1e-12]));
    var bw = pw / Math.max(1, n);
    axisTicks(0, top, 5).forEach(function (t) {
      var y = m.t + ph - (t / top) * ph;
      node.appendChild(svg("line", { x1: m.l, x2: m.l + pw, y1: y, y2: y, stroke: "#e3e6ea" }));
      node.appendChild(svg("text", { x: m.l - 6, y: y + 4, "text-anchor": "end", "font-size": 11, text: fmt(t) }));
    });
    singular.forEach(function (s, i) {
      var h = (s / top) * ph;
      var bar = svg("rect", { x: m.l + i * bw + bw * 0.15, y: m.t + ph - h, width: bw * 0.7, height: Math.max(0, h), fill: "#8fa9c6" });
      bar.appendChild(svg("title", { text: "σ" + (i + 1) + " = " + fmt(s) }));
      node.appendChild(bar);
      if (n <= 30 || i % Math.ceil(n / 30) === 0) {
        node.appendChild(svg("text", { x: m.l + (i + 0.5) * bw, y: m.t + ph + 14, "text-anchor": "middle", "font-size": 10, text: String(i + 1) }));
      }
    });
    var points = [];
    for (var k = 1; k <= n; k++) {
      var r2 = rankR2[String(k)];
      if (isNumber(r2)) points.push([m.l + (k - 0.5) * bw, m.t + ph - Math.max(0, Math.min(1, r2)) * ph, k, r2]);
    }
    if (points.length) {
      node.appendChild(svg("polyline", { points: points.map(function (p) { return p[0] + "," + p[1]; }).join(" "), fill: "none", stroke: "#b2182b", "stroke-width": 2 }));
      points.forEach(function (p) {
        var dot = svg("circle", { cx: p[0], cy: p[1], r: 3.5, fill: "#b2182b" });
        dot.appendChild(svg("title", { text: "rank " + p[2] + ": R² = " + fmt(p[3]) }));
        node.appendChild(dot);
      });
    }
    [0, 0.25, 0.5, 0.75, 1].forEach(function (t) {
      node.appendChild(svg("text", { x: m.l + pw + 6, y: m.t + ph - t * ph + 4, "font-size": 11, fill: "#b2182b", text: fmt(t) }));
    });
    node.appendChild(svg("text", { x: m.l + pw / 2, y: H - 6, "text-anchor": "middle", "font-size": 12, text: "component / rank k" }));
    node.appendChild(svg("text", { x: 12, y: m.t + ph / 2, "font-size": 12, "text-anchor": "middle", transform: "rotate(-90 12 " + (m.t + ph / 2) + ")", text: "singular value" }));
    node.appendChild(svg("text", { x: W - 8, y: m.t + ph / 2, "font-size": 12, fill: "#b2182b", "text-anchor": "middle", transform: "rotate(90 " + (W - 8) + " " + (m.t + ph / 2) + ")", text: "cumulative R²" }));
    container.appendChild(node);
  }

  function barChart(container, items, options) {
    // items: [{label, value, err}], vertical bars around 0 with a diverging colour.
    var W = options.width || 620, H = options.height || 240, m = { l: 56, r: 12, t: 12, b: options.labels ? 70 : 24 };
    var pw = W - m.l - m.r, ph = H - m.t - m.b;
    var values = items.map(function (d) { return d.value; }).filter(isNumber);
    var highs = items.map(function (d) { return (d.value || 0) + (d.err || 0); });
    var lows = items.map(function (d) { return (d.value || 0) - (d.err || 0); });
    var hi = Math.max.apply(null, highs.concat([0])), lo = Math.min.apply(null, lows.concat([0]));
    if (hi === lo) hi = lo + 1;
    var scale = Math.max(Math.abs(hi), Math.abs(lo));
    function y(v) { return m.t + ((hi - v) / (hi - lo)) * ph; }
    var node = svg("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img" });
    axisTicks(lo, hi, 5).forEach(function (t) {
      node.appendChild(svg("line", { x1: m.l, x2: m.l + pw, y1: y(t), y2: y(t), stroke: t === 0 ? "#9aa4af" : "#e3e6ea" }));
      node.appendChild(svg("text", { x: m.l - 6, y: y(t) + 4, "text-anchor": "end", "font-size": 11, text: fmt(t) }));
    });
    var bw = pw / Math.max(1, items.length);
    items.forEach(function (d, i) {
      if (!isNumber(d.value)) return;
      var top = y(Math.max(0, d.value)), bottom = y(Math.min(0, d.value));
      var bar = svg("rect", { x: m.l + i * bw + bw * 0.12, y: top, width: Math.max(0.5, bw * 0.76), height: Math.max(0.5, bottom - top), fill: css(colour(d.value, scale)), stroke: "#9aa4af", "stroke-width": 0.5 });
      bar.appendChild(svg("title", { text: d.label + ": " + fmt(d.value) + (isNumber(d.err) ? " ± " + fmt(d.err) : "") }));
      node.appendChild(bar);
      if (isNumber(d.err)) {
        var cx = m.l + (i + 0.5) * bw;
        node.appendChild(svg("line", { x1: cx, x2: cx, y1: y(d.value - d.err), y2: y(d.value + d.err), stroke: "#1d232b" }));
      }
      if (options.labels) {
        var lx = m.l + (i + 0.5) * bw, ly = m.t + ph + 8;
        var label = d.label.length > 14 ? d.label.slice(0, 13) + "…" : d.label;
        node.appendChild(svg("text", { x: lx, y: ly, "font-size": 10, "text-anchor": "end", transform: "rotate(-45 " + lx + " " + ly + ")", text: label }));
      }
    });
    if (options.ylabel) {
      node.appendChild(svg("text", { x: 12, y: m.t + ph / 2, "font-size": 12, "text-anchor": "middle", transform: "rotate(-90 12 " + (m.t + ph / 2) + ")", text: options.ylabel }));
    }
    void values;
    container.appendChild(el("div", { class: "chart" }, node));
  }

  function scatterPlot(container, name, points) {
    var size = 300, m = { l: 48, r: 10, t: 22, b: 36 };
    var canvas = el("canvas", { width: size, height: size, class: "scatter" });
    var ratio = window.devicePixelRatio || 1;
    canvas.width = size * ratio; canvas.height = size * ratio;
    canvas.style.width = size + "px"; canvas.style.height = size + "px";
    var context = canvas.getContext("2d");
    context.scale(ratio, ratio);
    var xs = [], ys = [];
    for (var i = 0; i < Math.min(points.true.length, points.predicted.length); i++) {
      if (isNumber(points.true[i]) && isNumber(points.predicted[i])) { xs.push(points.true[i]); ys.push(points.predicted[i]); }
    }
    var all = xs.concat(ys);
    var lo = all.length ? Math.min.apply(null, all) : 0, hi = all.length ? Math.max.apply(null, all) : 1;
    if (hi === lo) hi = lo + 1;
    var pw = size - m.l - m.r, ph = size - m.t - m.b;
    function px(v) { return m.l + ((v - lo) / (hi - lo)) * pw; }
    function py(v) { return m.t + ph - ((v - lo) / (hi - lo)) * ph; }
    context.fillStyle = "#fff"; context.fillRect(0, 0, size, size);
    context.strokeStyle = "#d8dde3"; context.strokeRect(m.l, m.t, pw, ph);
    context.strokeStyle = "#9aa4af"; context.beginPath(); context.moveTo(px(lo), py(lo)); context.lineTo(px(hi), py(hi)); context.stroke();
    context.fillStyle = "rgba(33,102,172,0.35)";
    for (var k = 0; k < xs.length; k++) { context.beginPath(); context.arc(px(xs[k]), py(ys[k]), 2, 0, 2 * Math.PI); context.fill(); }
    context.fillStyle = "#1d232b"; context.font = "12px system-ui, sans-serif"; context.textAlign = "center";
    context.fillText(name + " (" + xs.length + " entries)", size / 2, 14);
    context.font = "11px system-ui, sans-serif";
    context.fillText("true", m.l + pw / 2, size - 6);
    axisTicks(lo, hi, 4).forEach(function (t) {
      context.textAlign = "center"; context.fillText(fmt(t), px(t), m.t + ph + 14);
      context.textAlign = "right"; context.fillText(fmt(t), m.l - 4, py(t) + 4);
    });
    context.save(); context.translate(12, m.t + ph / 2); context.rotate(-Math.PI / 2); context.textAlign = "center"; context.fillText("predicted", 0, 0); context.restore();
    container.appendChild(el("div", { class: "card" }, canvas));
  }
